"""TTL, the sweeper, max entries (evict or refuse), max entry size and idle sessions, on every backend."""

from __future__ import annotations

import pytest

from context_service.application.common import RequestMeta
from context_service.domain.errors import InvalidArgument, ResourceExhausted
from context_service.domain.session import EventType, PutItem, SessionOptions
from tests.conformance.session.backends import IDLE_MS
from tests.conformance.session.conftest import Sessions

META = RequestMeta(correlation_id="test")


async def put(s: Sessions, sid: str, key: str, **kw: object) -> None:
    await s.uc.put.execute(sid, [PutItem(key, "1", **kw)], META, batch=False)  # type: ignore[arg-type]


async def keys(s: Sessions, sid: str) -> list[str]:
    page, _ = await s.uc.find.execute(sid, "", "", 0, "")
    return [e.key for e in page.entries]


async def test_an_entry_is_not_returned_from_the_millisecond_it_expires(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a", ttl_ms=100)
    [entry] = await sessions.uc.get.execute(sid, ["a"])
    assert entry.expires_at_ms == sessions.clock.current + 100
    sessions.clock.advance(99)
    assert await keys(sessions, sid) == ["a"]
    sessions.clock.advance(1)
    assert await sessions.uc.get.execute(sid, ["a"]) == []
    assert await keys(sessions, sid) == []
    assert (await sessions.uc.get_session.execute(sid)).entry_count == 0


async def test_ttl_zero_never_expires_and_unset_takes_the_session_default(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await sessions.uc.create.execute(sid, SessionOptions(default_ttl_ms=50))
    await put(sessions, sid, "forever", ttl_ms=0)
    await put(sessions, sid, "default")
    found = {e.key: e.expires_at_ms for e in await sessions.uc.get.execute(sid, ["forever", "default"])}
    assert found == {"forever": 0, "default": sessions.clock.current + 50}


async def test_overwriting_sets_a_new_expiry_from_its_own_ttl(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a", ttl_ms=10)
    await put(sessions, sid, "a", ttl_ms=0)
    sessions.clock.advance(20)
    assert [e.expires_at_ms for e in await sessions.uc.get.execute(sid, ["a"])] == [0]


async def test_the_sweeper_removes_expired_entries_with_expire_events(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a", ttl_ms=10, source="x")
    await put(sessions, sid, "b", ttl_ms=0)
    sessions.clock.advance(10)
    assert await sessions.uc.sweep.execute() >= 1
    published = [e.payload for e in sessions.events.events if e.payload["session_id"] == sid]
    assert published[-1] == {
        "session_id": sid, "key": "a", "type": "EXPIRE", "version": 1, "revision": 3, "source": "x",
        "at_ms": sessions.clock.current,
    }  # fmt: skip
    assert (await sessions.uc.get_session.execute(sid)).revision == 3


async def test_a_write_after_an_expiry_logs_the_expiry_first(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a", ttl_ms=10)
    sessions.clock.advance(10)
    result = await sessions.uc.put.execute(sid, [PutItem("a", "2")], META, batch=False)
    assert [(e.type, e.revision) for e in result.events] == [(EventType.EXPIRE, 2), (EventType.SET, 3)]
    assert result.entries[0].version == 1


async def test_a_full_session_evicts_the_least_recently_updated_entries(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await sessions.uc.create.execute(sid, SessionOptions(max_entries=3))
    for key in ("a", "b", "c"):
        await put(sessions, sid, key)
    await put(sessions, sid, "a")  # a is now the most recently updated
    result = await sessions.uc.put.execute(sid, [PutItem("d", "1")], META, batch=False)
    assert result.evicted_keys == ("b",)
    assert await keys(sessions, sid) == ["a", "c", "d"]
    assert [e.type for e in result.events] == [EventType.EVICT, EventType.SET]


async def test_a_strict_full_session_refuses_a_new_key_and_writes_nothing(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await sessions.uc.create.execute(sid, SessionOptions(max_entries=2, strict=True))
    await put(sessions, sid, "a")
    await put(sessions, sid, "b")
    with pytest.raises(ResourceExhausted, match="max_entries"):
        await put(sessions, sid, "c")
    await put(sessions, sid, "a")  # an overwrite needs no room
    assert await keys(sessions, sid) == ["a", "b"]


async def test_a_value_over_the_max_entry_size_is_invalid_and_nothing_is_written(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await sessions.uc.create.execute(sid, SessionOptions(max_entry_bytes=8))
    items = [PutItem("ok", "1"), PutItem("big", '"123456789"')]
    with pytest.raises(InvalidArgument) as raised:
        await sessions.uc.put.execute(sid, items, META, batch=True)
    assert raised.value.field == "items[1].value_json"
    assert await keys(sessions, sid) == []


async def test_an_idle_session_is_dropped_by_the_sweeper(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a", ttl_ms=0)
    sessions.clock.advance(IDLE_MS)
    await sessions.uc.sweep.execute()
    assert await sessions.store.get_session(sid, sessions.clock.current) is None
    types = [e.payload["type"] for e in sessions.events.events if e.payload["session_id"] == sid]
    assert types[-1] == "SESSION_DROPPED"
