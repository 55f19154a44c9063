"""CreateSession, GetSession, ListSessions, DropSession and Find, on every backend."""

from __future__ import annotations

import pytest

from context_service.application.common import RequestMeta
from context_service.domain.errors import NotFound
from context_service.domain.session import PutItem, SessionOptions
from tests.conformance.session.conftest import Sessions

META = RequestMeta(correlation_id="test")


async def test_create_session_is_idempotent_and_updates_options(sessions: Sessions) -> None:
    sid = sessions.new_id()
    first, created = await sessions.uc.create.execute(sid, SessionOptions(max_entries=5))
    again, created_again = await sessions.uc.create.execute(sid, SessionOptions(max_entries=7, strict=True))
    assert (created, created_again) == (True, False)
    assert (first.revision, first.entry_count) == (0, 0)
    assert (again.options.max_entries, again.options.strict) == (7, True)


async def test_get_session_of_an_unknown_id_is_not_found(sessions: Sessions) -> None:
    with pytest.raises(NotFound):
        await sessions.uc.get_session.execute(sessions.new_id())


async def test_list_sessions_is_ordered_by_id_and_paginated(sessions: Sessions) -> None:
    base = sessions.new_id()
    for suffix in ("c", "a", "b"):
        await sessions.uc.create.execute(f"{base}-{suffix}", SessionOptions())
    first, token = await sessions.uc.list_sessions.execute(base, 2, "")
    rest, last = await sessions.uc.list_sessions.execute(base, 2, token)
    assert [s.session_id for s in first + rest] == [f"{base}-a", f"{base}-b", f"{base}-c"]
    assert token
    assert not last


async def test_drop_session_removes_every_entry(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await sessions.uc.put.execute(sid, [PutItem("a", "1"), PutItem("b", "2")], META, batch=True)
    dropped = await sessions.uc.drop.execute(sid, META)
    assert (dropped.dropped, dropped.entries_removed) == (True, 2)
    assert await sessions.uc.get.execute(sid, ["a"]) == []
    assert (await sessions.uc.drop.execute(sid, META)).dropped is False
    listed, _ = await sessions.uc.list_sessions.execute(sid, 0, "")
    assert listed == []


async def test_sessions_are_isolated_from_each_other(sessions: Sessions) -> None:
    one, two = sessions.new_id(), sessions.new_id()
    await sessions.uc.put.execute(one, [PutItem("a", "1", tags=("t",))], META, batch=False)
    assert await sessions.uc.get.execute(two, ["a"]) == []
    page, _ = await sessions.uc.find.execute(two, "*", "t", 0, "")
    assert page.entries == ()


async def test_find_matches_globs_and_tags_ordered_by_key(sessions: Sessions) -> None:
    sid = sessions.new_id()
    items = [
        PutItem("analysis:mind:tim", "1", tags=("mind",)),
        PutItem("analysis:mind:ann", "2"),
        PutItem("analysis:body:tim", "3", tags=("mind",)),
        PutItem("checkpoint:cp-1:decision", "4"),
        PutItem("analysis:mind:é", "5"),
    ]
    await sessions.uc.put.execute(sid, items, META, batch=True)

    async def find(pattern: str, tag: str = "") -> list[str]:
        page, _ = await sessions.uc.find.execute(sid, pattern, tag, 0, "")
        return [e.key for e in page.entries]

    assert await find("analysis:mind:*") == ["analysis:mind:ann", "analysis:mind:tim", "analysis:mind:é"]
    assert await find("analysis:mind:?") == ["analysis:mind:é"]
    assert await find("*:tim") == ["analysis:body:tim", "analysis:mind:tim"]
    assert await find("", "mind") == ["analysis:body:tim", "analysis:mind:tim"]
    assert await find("analysis:mind:*", "mind") == ["analysis:mind:tim"]
    assert await find("checkpoint:cp-1:decision") == ["checkpoint:cp-1:decision"]
    assert await find("a.alysis*") == []


async def test_an_overwrite_replaces_the_tags_an_entry_is_found_by(sessions: Sessions) -> None:
    sid = sessions.new_id()
    for tags in (("draft", "mind"), ("mind", "final"), ()):
        await sessions.uc.put.execute(sid, [PutItem("a", "1", tags=tags)], META, batch=False)
        found = {}
        for tag in ("draft", "mind", "final"):
            page, _ = await sessions.uc.find.execute(sid, "*", tag, 0, "")
            found[tag] = [e.key for e in page.entries]
        assert found == {tag: ["a"] if tag in tags else [] for tag in ("draft", "mind", "final")}


async def test_find_treats_regex_and_lua_magic_characters_literally(sessions: Sessions) -> None:
    sid = sessions.new_id()
    keys = ["a%b", "a.b", "a[b]", "a(b)", "a+b", "a^b$"]
    await sessions.uc.put.execute(sid, [PutItem(k, "1") for k in keys], META, batch=True)
    for key in keys:
        page, _ = await sessions.uc.find.execute(sid, key, "", 0, "")
        assert [e.key for e in page.entries] == [key]


async def test_find_pages_through_every_match_once(sessions: Sessions) -> None:
    sid = sessions.new_id()
    await sessions.uc.put.execute(sid, [PutItem(f"k:{i:03d}", "1") for i in range(25)], META, batch=True)
    seen, token = [], ""
    while True:
        page, token = await sessions.uc.find.execute(sid, "k:*", "", 10, token)
        seen += [e.key for e in page.entries]
        if not token:
            break
    assert seen == [f"k:{i:03d}" for i in range(25)]
