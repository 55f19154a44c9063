"""`context-service migrate --adopt-legacy`: dry run, run, a second run, prune, and flags that do not fit."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

import pytest

from context_service.adapters.falkordb.graph import FalkorGraph
from context_service.local_servers import LocalServer
from tests.e2e.test_cli_config import run_cli
from tests.support.adoption import labelled
from tests.support.legacy_fixture import fixture_graph

pytestmark = pytest.mark.e2e
VALKEY_DB = 5


@pytest.fixture
async def legacy_env(falkordb: LocalServer, valkey: LocalServer) -> AsyncIterator[dict[str, str]]:
    """Settings of a graph holding the legacy fixture, with a key prefix of its own for the checkpoint."""
    name = f"cli-legacy-{uuid.uuid4().hex}"
    async with FalkorGraph(url=falkordb.url, graph=name, timeout_seconds=10) as graph:
        await fixture_graph().write(graph)
        yield {
            "GRAPH_BACKEND": "falkordb",
            "FALKORDB_URL": falkordb.url,
            "FALKORDB_GRAPH": name,
            "VALKEY_URL": f"{valkey.url}/{VALKEY_DB}",
            "KV_BACKEND": "valkey",
            "KV_KEY_PREFIX": f"{name}:",
            "ENABLE_NATS": "false",
        }
        await graph.drop()


async def cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    done = await asyncio.to_thread(run_cli, "migrate", *args, **env)
    return done.returncode, done.stdout, done.stderr


async def test_dry_run_run_again_and_prune_from_the_command_line(
    legacy_env: dict[str, str], falkordb: LocalServer
) -> None:
    dry = await cli("--adopt-legacy", "--dry-run", env=legacy_env)
    first = await cli("--adopt-legacy", "--batch-size", "2", env=legacy_env)
    second = await cli("--adopt-legacy", "--prune-legacy", env=legacy_env)

    assert [dry[0], first[0], second[0]] == [0, 0, 0]
    assert "dry run (nothing written)" in dry[1]
    assert "ProjectCase" in dry[1]
    assert re.search(r"^stories adopted +3$", first[1], re.MULTILINE)
    assert "3/3 stories" in first[2]
    assert re.search(r"^stories already adopted \(unchanged\) +3$", second[1], re.MULTILINE)
    assert "legacy nodes pruned:" in second[1]
    async with FalkorGraph(url=falkordb.url, graph=legacy_env["FALKORDB_GRAPH"], timeout_seconds=10) as graph:
        assert await labelled(graph, "ProjectCase") == 0
        assert await labelled(graph, "Story", "n.id IS NOT NULL") == 3


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--dry-run",), "--dry-run and --prune-legacy need --adopt-legacy"),
        (("--adopt-legacy", "--dry-run", "--prune-legacy"), "cannot be combined with --dry-run"),
        (("--adopt-legacy", "--batch-size", "0"), "must be between 1 and 1000"),
    ],
    ids=["dry-run-alone", "dry-run-and-prune", "batch-size-zero"],
)
def test_flags_that_do_not_fit_exit_2_naming_the_flag(args: tuple[str, ...], named: str) -> None:
    done = run_cli("migrate", *args, GRAPH_BACKEND="memory")

    assert done.returncode == 2
    assert named in done.stderr
