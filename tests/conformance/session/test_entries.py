"""Put, Get, Has, Delete and BatchPut semantics (the proto's comments), on every backend."""

from __future__ import annotations

import pytest

from context_service.application.common import RequestMeta
from context_service.domain.errors import Aborted
from context_service.domain.session import PutItem
from tests.conformance.session.conftest import Sessions

META = RequestMeta(correlation_id="test")


async def put(s: Sessions, sid: str, key: str, value: str = "1", **kw: object) -> int:
    result = await s.uc.put.execute(sid, [PutItem(key, value, **kw)], META, batch=False)  # type: ignore[arg-type]
    return result.entries[0].version


async def test_put_on_an_unknown_session_creates_it_with_default_options(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a")
    info = await sessions.uc.get_session.execute(sid)
    assert (info.options.default_ttl_ms, info.options.max_entries) == (3_600_000, 10_000)
    assert (info.options.max_entry_bytes, info.options.strict, info.options.notifications) == (
        102_400,
        False,
        True,
    )
    assert (info.revision, info.entry_count) == (1, 1)


async def test_versions_start_at_one_and_rise_by_one_per_overwrite_keeping_created_at(
    sessions: Sessions,
) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a", '"x"')
    sessions.clock.advance(5)
    await put(sessions, sid, "a", '"y"')
    [entry] = await sessions.uc.get.execute(sid, ["a"])
    assert (entry.version, entry.value_json, entry.revision) == (2, '"y"', 2)
    assert entry.created_at_ms == entry.updated_at_ms - 5


async def test_a_new_entry_after_a_delete_starts_at_version_one(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a")
    await put(sessions, sid, "a")
    await sessions.uc.delete.execute(sid, "a", None, META)
    assert await put(sessions, sid, "a") == 1


async def test_every_change_takes_the_next_revision_of_its_session(sessions: Sessions) -> None:
    sid, other = sessions.new_id(), sessions.new_id()
    await put(sessions, sid, "a")
    await put(sessions, other, "a")
    await put(sessions, sid, "b")
    deleted = await sessions.uc.delete.execute(sid, "a", None, META)
    assert deleted.deleted
    assert deleted.revision == 3
    assert (await sessions.uc.get_session.execute(other)).revision == 1


async def test_values_keep_their_exact_json_text(sessions: Sessions) -> None:
    sid = sessions.new_id()
    value = '{"n": 9007199254740993, "empty": [], "o": {}, "s": "é\\u0000"}'
    await put(sessions, sid, "a", value)
    [entry] = await sessions.uc.get.execute(sid, ["a"])
    assert entry.value_json == value


async def test_source_and_tags_are_kept(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a", source="mind:tim", tags=("draft", "mind"))
    [entry] = await sessions.uc.get.execute(sid, ["a"])
    assert (entry.source, entry.tags) == ("mind:tim", ("draft", "mind"))


async def test_get_of_an_absent_key_finds_nothing(sessions: Sessions) -> None:
    assert await sessions.uc.get.execute(sessions.new_id(), ["nope"]) == []


async def test_batch_get_returns_the_live_entries_in_the_order_asked(sessions: Sessions) -> None:
    sid = sessions.new_id()
    for key in ("a", "b", "c"):
        await put(sessions, sid, key)
    found = await sessions.uc.get.execute(sid, ["c", "missing", "a"], "keys")
    assert [e.key for e in found] == ["c", "a"]


async def test_put_with_expected_version_writes_only_at_that_version(sessions: Sessions) -> None:
    sid = sessions.new_id()
    assert await put(sessions, sid, "a", expected_version=0) == 1
    assert await put(sessions, sid, "a", expected_version=1) == 2
    with pytest.raises(Aborted, match="version 2"):
        await put(sessions, sid, "a", '"lost"', expected_version=1)
    [entry] = await sessions.uc.get.execute(sid, ["a"])
    assert (entry.version, entry.value_json) == (2, "1")


async def test_expected_version_zero_means_only_if_absent(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a")
    with pytest.raises(Aborted, match="version 1"):
        await put(sessions, sid, "a", expected_version=0)


async def test_delete_with_a_wrong_expected_version_is_aborted_and_keeps_the_entry(
    sessions: Sessions,
) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a")
    with pytest.raises(Aborted, match="version 1"):
        await sessions.uc.delete.execute(sid, "a", 7, META)
    assert len(await sessions.uc.get.execute(sid, ["a"])) == 1
    assert (await sessions.uc.delete.execute(sid, "a", 1, META)).deleted


async def test_delete_of_an_absent_entry_is_not_an_error(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a")
    result = await sessions.uc.delete.execute(sid, "b", None, META)
    assert (result.deleted, result.revision) == (False, 1)


async def test_batch_put_writes_every_item_at_one_revision(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a")
    items = [PutItem("a", "2"), PutItem("b", "3", tags=("t",))]
    result = await sessions.uc.put.execute(sid, items, META, batch=True)
    assert result.revision == 2
    assert [(e.key, e.version, e.revision) for e in result.entries] == [("a", 2, 2), ("b", 1, 2)]


async def test_a_batch_with_one_failed_compare_and_set_writes_nothing(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a")
    items = [PutItem("b", "1"), PutItem("a", "2", expected_version=5)]
    with pytest.raises(Aborted, match=r"items\[1\]"):
        await sessions.uc.put.execute(sid, items, META, batch=True)
    assert [e.key for e in await sessions.uc.get.execute(sid, ["a", "b"], "keys")] == ["a"]
    assert (await sessions.uc.get_session.execute(sid)).revision == 1


async def test_each_change_is_announced_with_its_session_and_revision(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a", source="mind:tim")
    await sessions.uc.delete.execute(sid, "a", None, META)
    published = [e for e in sessions.events.events if e.payload["session_id"] == sid]
    assert [e.subject for e in published] == [f"context.session.{sid}.changed"] * 2
    assert [e.idempotency_key for e in published] == [f"{sid}:1", f"{sid}:2"]
    assert [(e.payload["type"], e.payload["version"], e.payload["source"]) for e in published] == [
        ("SET", 1, "mind:tim"),
        ("DELETE", 1, "mind:tim"),
    ]


async def test_a_session_with_notifications_off_publishes_nothing(sessions: Sessions) -> None:
    from context_service.domain.session import SessionOptions

    sid = sessions.new_id()
    await sessions.uc.create.execute(sid, SessionOptions(notifications=False))
    await put(sessions, sid, "a")
    assert [e for e in sessions.events.events if e.payload["session_id"] == sid] == []


async def test_the_items_of_one_batch_are_announced_with_distinct_message_ids(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await sessions.uc.put.execute(sid, [PutItem("a", "1"), PutItem("b", "2")], META, batch=True)
    published = [e for e in sessions.events.events if e.payload["session_id"] == sid]
    assert sorted(e.idempotency_key for e in published) == [f"{sid}:1:a", f"{sid}:1:b"]
    assert {e.payload["revision"] for e in published} == {1}
