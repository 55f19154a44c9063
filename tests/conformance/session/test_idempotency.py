"""Writes under an idempotency key, and write ids given to the store: a change is made once, on every backend.

A request retried under the same `idempotency-key` gets the first answer and changes nothing (no revision,
no version, no event); the same key with another request is ABORTED with nothing written; the key belongs to
its session. A store given the same write id twice (a command sent again after a lost connection) makes the
change once.
"""

from __future__ import annotations

import asyncio

import pytest

from context_service.application.common import KEY_REUSED, RequestMeta
from context_service.domain.errors import Aborted
from context_service.domain.session import PutItem
from context_service.ports.errors import WriteIdReused
from context_service.ports.session import WriteId
from tests.conformance.session.conftest import Sessions

KEYED = RequestMeta(correlation_id="test", idempotency_key="retry-1")
PLAIN = RequestMeta(correlation_id="test")


async def put(s: Sessions, sid: str, key: str, value: str, meta: RequestMeta = PLAIN, **kw: object) -> int:
    result = await s.uc.put.execute(sid, [PutItem(key, value, **kw)], meta, batch=False)  # type: ignore[arg-type]
    return result.revision


async def test_a_put_retried_under_its_key_gets_the_first_answer_and_changes_nothing(
    sessions: Sessions,
) -> None:
    sid = sessions.new_id()
    first = await sessions.uc.put.execute(sid, [PutItem("a", '"x"', tags=("t",))], KEYED, batch=False)
    sessions.clock.advance(10)
    again = await sessions.uc.put.execute(sid, [PutItem("a", '"x"', tags=("t",))], KEYED, batch=False)
    assert (again.revision, again.entries[0].version) == (first.revision, 1) == (1, 1)
    assert again.entries[0].value_json == '"x"'
    assert again.entries[0].updated_at_ms == first.entries[0].updated_at_ms
    [entry] = await sessions.uc.get.execute(sid, ["a"])
    assert (entry.version, entry.revision) == (1, 1)
    assert await sessions.store.latest_revision(sid) == 1
    assert [e.payload["revision"] for e in sessions.events.events] == [1]


async def test_the_same_key_with_another_request_is_aborted_and_writes_nothing(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a", '"x"', KEYED)
    with pytest.raises(Aborted, match=KEY_REUSED):
        await put(sessions, sid, "a", '"y"', KEYED)
    with pytest.raises(Aborted, match=KEY_REUSED):
        await sessions.uc.delete.execute(sid, "a", None, KEYED)
    [entry] = await sessions.uc.get.execute(sid, ["a"])
    assert (entry.value_json, entry.version) == ('"x"', 1)
    assert await sessions.store.latest_revision(sid) == 1


async def test_a_batch_put_retried_under_its_key_lands_once(sessions: Sessions) -> None:
    sid = sessions.new_id()
    items = [PutItem("a", "1"), PutItem("b", "2", expected_version=0)]
    first = await sessions.uc.put.execute(sid, items, KEYED, batch=True)
    await put(sessions, sid, "c", "3")
    again = await sessions.uc.put.execute(sid, items, KEYED, batch=True)
    assert again.revision == first.revision == 1
    assert [(e.key, e.version) for e in again.entries] == [("a", 1), ("b", 1)]
    assert await sessions.store.latest_revision(sid) == 2


async def test_a_delete_retried_after_the_entry_came_back_leaves_it(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a", "1")
    first = await sessions.uc.delete.execute(sid, "a", None, KEYED)
    await put(sessions, sid, "a", "2")
    again = await sessions.uc.delete.execute(sid, "a", None, KEYED)
    assert (again.deleted, again.revision) == (first.deleted, first.revision) == (True, 2)
    [entry] = await sessions.uc.get.execute(sid, ["a"])
    assert (entry.value_json, entry.version) == ("2", 1)


async def test_a_drop_retried_after_the_session_came_back_leaves_it(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await put(sessions, sid, "a", "1")
    first = await sessions.uc.drop.execute(sid, KEYED)
    await put(sessions, sid, "b", "2")
    again = await sessions.uc.drop.execute(sid, KEYED)
    assert (again.dropped, again.entries_removed) == (first.dropped, first.entries_removed) == (True, 1)
    [entry] = await sessions.uc.get.execute(sid, ["b"])
    assert entry.value_json == "2"


async def test_a_key_belongs_to_its_session(sessions: Sessions) -> None:
    sid, other = sessions.new_id(), sessions.new_id()
    await put(sessions, sid, "a", "1", KEYED)
    assert await put(sessions, other, "a", "2", KEYED) == 1
    [entry] = await sessions.uc.get.execute(other, ["a"])
    assert entry.value_json == "2"


async def test_a_refused_write_is_not_remembered(sessions: Sessions) -> None:
    sid = sessions.new_id()
    with pytest.raises(Aborted, match="expected_version"):
        await put(sessions, sid, "a", "1", KEYED, expected_version=3)
    assert await put(sessions, sid, "a", "2", KEYED) == 1
    [entry] = await sessions.uc.get.execute(sid, ["a"])
    assert entry.value_json == "2"


async def test_without_a_key_each_retry_is_a_new_change(sessions: Sessions) -> None:
    sid = sessions.new_id()
    assert [await put(sessions, sid, "a", "1") for _ in range(2)] == [1, 2]


async def test_the_store_makes_a_change_sent_twice_under_one_write_id_once(sessions: Sessions) -> None:
    sid, now = sessions.new_id(), sessions.clock.now_ms()
    write = WriteId("ab" * 16, "f1", 60_000)
    first = await sessions.store.put(sid, [PutItem("a", "1")], now, write=write)
    again = await sessions.store.put(sid, [PutItem("a", "1")], now + 5, write=write)
    assert (again.revision, again.entries[0].version) == (first.revision, 1)
    assert [e.revision for e in again.events] == [e.revision for e in first.events]
    with pytest.raises(WriteIdReused):
        await sessions.store.put(sid, [PutItem("a", "2")], now + 5, write=WriteId("ab" * 16, "f2", 60_000))
    with pytest.raises(WriteIdReused):  # a write id names one change, whatever its kind
        await sessions.store.delete(sid, "a", None, now + 5, write=write)
    assert await sessions.store.latest_revision(sid) == 1


async def test_a_write_id_is_forgotten_after_its_lifetime(sessions: Sessions) -> None:
    sid, now = sessions.new_id(), sessions.clock.now_ms()
    write = WriteId("cd" * 16, "f", 20)
    await sessions.store.put(sid, [PutItem("a", "1")], now, write=write)
    await asyncio.sleep(0.05)  # the Valkey marker's lifetime runs on the server's clock
    again = await sessions.store.put(sid, [PutItem("a", "1")], now + 50, write=write)
    assert (again.revision, again.entries[0].version) == (2, 2)
