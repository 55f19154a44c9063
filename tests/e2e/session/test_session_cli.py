"""`context-service session …` against a running server: each sub-command prints JSON; watch prints events."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.session.support import PROGRESS, WAIT, new_id
from tests.support.harness import Service, running_service

CLI = str(Path(sys.executable).with_name("context-service"))


@pytest.fixture
async def svc() -> AsyncIterator[Service]:
    """The service on the in-memory backend."""
    async with running_service(sessions=PROGRESS) as service:
        yield service


async def cli(svc: Service, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        CLI, "session", "--address", svc.server_address, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_put_get_find_list_and_drop_print_json(svc: Service) -> None:
    sid = new_id()
    code, out, _ = await cli(svc, "put", sid, "analysis:mind:tim", "--json", '{"ok": true}', "--tag", "mind")
    assert code == 0
    assert json.loads(out)["version"] == 1
    code, out, _ = await cli(svc, "get", sid, "analysis:mind:tim")
    assert (code, json.loads(out)["value"], json.loads(out)["tags"]) == (0, {"ok": True}, ["mind"])
    code, out, _ = await cli(svc, "find", sid, "--pattern", "analysis:*")
    assert json.loads(out) == {"analysis:mind:tim": {"ok": True}}
    code, out, _ = await cli(svc, "list", "--prefix", sid)
    assert json.loads(out) == [sid]
    code, out, _ = await cli(svc, "drop", sid)
    assert json.loads(out) == {"session_id": sid, "entries_removed": 1}


async def test_a_put_run_again_under_its_idempotency_key_prints_the_first_answer(svc: Service) -> None:
    sid = new_id()
    put = ("put", sid, "checkpoint", "--json", '"go"', "--idempotency-key", "cp-1")
    outputs = [(await cli(svc, *put))[:2] for _ in range(2)]
    assert outputs[0] == outputs[1]
    assert (outputs[0][0], json.loads(outputs[0][1])["version"]) == (0, 1)
    code, _, err = await cli(svc, "put", sid, "checkpoint", "--json", '"stop"', "--idempotency-key", "cp-1")
    assert (code, err.startswith("ABORTED: idempotency-key")) == (1, True)


async def test_errors_print_the_status_and_exit_non_zero(svc: Service) -> None:
    code, _, err = await cli(svc, "put", "a.b", "k", "--json", "1")
    assert code == 1
    assert err.startswith("INVALID_ARGUMENT: session_id")
    code, _, err = await cli(svc, "get", new_id(), "missing")
    assert (code, err.startswith("NOT_FOUND")) == (1, True)


async def test_watch_prints_each_change_as_it_comes(svc: Service) -> None:
    sid = new_id()
    await cli(svc, "put", sid, "checkpoint:cp-1:decision", "--json", '"wait"')
    process = await asyncio.create_subprocess_exec(
        CLI, "session", "--address", svc.server_address, "watch", sid, "--initial",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        first = json.loads(await asyncio.wait_for(process.stdout.readline(), WAIT * 3))
        await cli(svc, "put", sid, "checkpoint:cp-1:decision", "--json", '"go"')
        second = json.loads(await asyncio.wait_for(process.stdout.readline(), WAIT))
    finally:
        process.terminate()
        await process.wait()
    assert (first["type"], first["initial"], first["entry"]["value"]) == ("SET", True, "wait")
    assert (second["type"], second["revision"], second["entry"]["value"]) == ("SET", 2, "go")
