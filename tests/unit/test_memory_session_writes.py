"""The in-memory session store's memory of write ids: bounded in number, the oldest forgotten first."""

from __future__ import annotations

from context_service.adapters.memory.session import InMemorySessionStore
from context_service.domain.session import PutItem
from context_service.ports.session import WriteId

NOW_MS = 1_793_534_400_000
HOUR_MS = 3_600_000


async def test_past_the_bound_the_oldest_write_id_is_forgotten_and_the_newer_still_replay() -> None:
    store = InMemorySessionStore(max_remembered_writes=2)
    ids = [WriteId(f"{n:032x}", "f", HOUR_MS) for n in range(3)]
    for n, write in enumerate(ids):
        await store.put("s", [PutItem(f"k{n}", "1")], NOW_MS, write=write)

    again = [await store.put("s", [PutItem(f"k{n}", "1")], NOW_MS, write=ids[n]) for n in (2, 1, 0)]

    # k2 and k1 were remembered (their first answers, revisions 3 and 2); k0 was forgotten: written again.
    assert [(r.revision, r.entries[0].version) for r in again] == [(3, 1), (2, 1), (4, 2)]
