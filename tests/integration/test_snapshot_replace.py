"""ImportStory with replace is atomic: a concurrent reader sees the old story or the new one, never a mix."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from context_service.bootstrap import memory_adapters
from fleet.context.admin.v1 import admin_pb2 as admin
from tests.e2e.builders import STORY_ID, change, create_story, create_task, update
from tests.support.backends import falkordb_valkey_adapters
from tests.support.fakes import FixedClock, SequentialIds
from tests.support.harness import Service, running_service

VALKEY_DB = 5  # the golden suite holds 1-3, the round trip 4
SWAPS = 12


@asynccontextmanager
async def service_on(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[Service]:
    """A running service on the in-memory backend or on FalkorDB with Valkey."""
    clock, ids = FixedClock(step_ms=1), SequentialIds()
    if backend == "memory":
        async with running_service(adapters=memory_adapters(clock=clock, ids=ids)) as service:
            yield service
        return
    async with (
        falkordb_valkey_adapters(
            falkordb=request.getfixturevalue("falkordb"),
            valkey=request.getfixturevalue("valkey"),
            valkey_db=VALKEY_DB,
            clock=clock,
            ids=ids,
        ) as adapters,
        running_service(adapters=adapters) as service,
    ):
        yield service


async def exported(service: Service) -> str:
    """The story's document."""
    return (await service.admin.ExportStory(admin.ExportStoryRequest(story_id=STORY_ID))).document_json


def graph_part(document: str) -> dict[str, Any]:
    """The document without its read-models (those live in another store, written after the graph)."""
    return {k: v for k, v in json.loads(document).items() if k != "read_models"}


async def two_versions(service: Service) -> tuple[str, str]:
    """The story with 30 tasks, then with 30 more and their history: two different documents."""
    await create_story(service)
    for i in range(30):
        await create_task(service, f"T-{i:02d}")
    first = await exported(service)
    await update(
        service, *(change("CREATE", "SUBTASK", f"T-{i:02d}", {"title": f"Task {i}"}) for i in range(30, 60))
    )
    return first, await exported(service)


@pytest.mark.parametrize("backend", ["memory", pytest.param("falkordb", marks=pytest.mark.integration)])
async def test_a_concurrent_reader_sees_one_whole_story_or_the_other(
    backend: str, request: pytest.FixtureRequest
) -> None:
    async with service_on(backend, request) as service:
        old, new = await two_versions(service)
        allowed = [graph_part(old), graph_part(new)]
        seen: list[dict[str, Any]] = []
        done = asyncio.Event()

        async def read() -> None:
            while not done.is_set():
                seen.append(graph_part(await exported(service)))

        async def swap() -> None:
            for i in range(SWAPS):
                document = old if i % 2 == 0 else new
                await service.admin.ImportStory(
                    admin.ImportStoryRequest(document_json=document, replace=True)
                )
            done.set()

        await asyncio.gather(read(), read(), swap())

    assert all(part in allowed for part in seen)
    assert len({json.dumps(part, sort_keys=True) for part in seen}) == 2  # the reads did interleave
