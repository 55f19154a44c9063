"""Faults under a steady mixed load on the real local stack, one scenario per test; each writes its figures.

The service runs as `context-service serve` (token auth on) on persistent FalkorDB, Valkey and nats-server;
the load runs as a process of its own. Each scenario: load under way, the fault, the dependency back, the load
on for a while, then everything drained and read back.
"""

from __future__ import annotations

import asyncio
import os
import uuid
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bench import reliability
from bench.stack import Stack, local_stack
from tests.chaos.campaign import Run, StoreBroke, loaded, new_run, serve_and_wait
from tests.chaos.verify import Figures, measure, summary, timings
from tests.support.waiting import eventually

pytestmark = pytest.mark.chaos
RESULTS = Path(os.environ.get("CHAOS_RESULTS", reliability.RESULTS))
DOWN_S = 3.0  # three store timeouts
RECOVERY_BOUND_S = 5.0
BEFORE_S, AFTER_S = 2.0, 3.0
Fault = Callable[[Run], Awaitable[None]]


def kill_store(name: str) -> Fault:
    """kill -9 one store, leave it down, start it again on its persisted data."""

    async def fault(run: Run) -> None:
        server = run.stack.stores[name]
        run.mark("fault")
        server.kill()
        await asyncio.sleep(DOWN_S)
        await asyncio.to_thread(server.start)
        run.mark("back")

    return fault


async def pause_valkey(run: Run) -> None:
    """SIGSTOP Valkey past the store timeout, then SIGCONT."""
    run.mark("fault")
    run.stack.valkey.pause()
    await asyncio.sleep(DOWN_S)
    run.stack.valkey.resume()
    run.mark("back")


async def kill_service(run: Run) -> None:
    """kill -9 the service mid-burst; a successor starts on the same port and the same stores."""
    crashed = run.services[0]
    run.mark("fault")
    crashed.kill()
    successor = run.stack.serve("successor", crashed.port)
    await successor.wait_serving()
    # The dependency that returns here is the successor: recovery counts from its SERVING.
    run.mark("back")


async def kill_one_replica(run: Run) -> None:
    """Two replicas behind a round-robin client; kill -9 the second (the first keeps serving)."""
    run.mark("fault")
    run.services[1].kill()
    run.mark("back")


async def scenario(tmp_path: Path, name: str, fault: Fault, *, replicas: int = 1) -> Figures:
    """Run one scenario; its figures, written to RESULTS/<name>.json.

    A store that breaks while the service starts, before any fault (FalkorDB 4.16.3 once hung on the service's
    first commands, answering nothing until killed), fails the stack rather than the service: the scenario
    then runs once more on a fresh stack, and the test's warnings say so with the store's log."""
    try:
        return await _scenario(tmp_path / name, name, fault, replicas)
    except StoreBroke as exc:
        again = f"{name}: a store broke before the fault; run again on a fresh stack"
        warnings.warn(f"{again}\n{exc}", stacklevel=2)
        return await _scenario(tmp_path / f"{name}-again", name, fault, replicas)


async def _scenario(root: Path, name: str, fault: Fault, replicas: int) -> Figures:
    with local_stack(root, token=f"tok-{uuid.uuid4().hex}") as stack:
        run = await _started(stack, name, replicas)
        async with loaded(run):
            await asyncio.sleep(BEFORE_S)
            await fault(run)
            await eventually(
                lambda: run.first_ok("update", run.marks["back"]) is not None,
                within=30,
                what="writes acknowledged again",
            )
            await asyncio.sleep(AFTER_S)
        figures = Figures(name)
        timings(run, figures, down=run.services[-1].target, up=run.services[0].target)
        await measure(run, figures)
    figures.write(RESULTS)
    return figures


async def _started(stack: Stack, name: str, replicas: int) -> Run:
    """The service process(es), serving; the load seeds its own story."""
    services = [await serve_and_wait(stack, f"{name}-{n}") for n in range(replicas)]
    return new_run(stack, services)


def assert_survived(figures: Figures) -> None:
    """The promises every scenario keeps."""
    facts = summary(figures)
    assert figures.unexpected_codes == {}, facts
    assert figures.writes_acked > 0, facts
    assert figures.session_counters, facts  # the session share ran: its checks are not vacuous
    assert figures.session_revisions_watched > 0, facts
    assert (figures.writes_lost, figures.writes_duplicated) == (0, 0), facts
    assert (figures.events_missing, figures.events_duplicated) == (0, 0), facts
    assert figures.dead_lettered == 0, facts
    assert figures.leaked_log_lines == 0, facts
    assert figures.health_back_s is not None, facts
    assert figures.recovery_s is not None, facts
    assert figures.recovery_s <= RECOVERY_BOUND_S, facts
    assert figures.to_not_serving_s is not None, facts


@pytest.mark.parametrize("store", ["falkordb", "valkey", "nats"])
async def test_a_store_killed_and_restarted_under_load_loses_nothing_and_recovers(
    tmp_path: Path, store: str
) -> None:
    figures = await scenario(tmp_path, f"kill-{store}", kill_store(store))

    assert_survived(figures)


async def test_valkey_paused_past_the_store_timeout_loses_nothing_and_recovers(tmp_path: Path) -> None:
    figures = await scenario(tmp_path, "pause-valkey", pause_valkey)

    assert_survived(figures)


async def test_the_service_killed_mid_burst_is_replaced_without_loss_or_double_effects(
    tmp_path: Path,
) -> None:
    figures = await scenario(tmp_path, "kill-service", kill_service)

    assert_survived(figures)


async def test_one_of_two_replicas_killed_leaves_the_other_serving_without_loss(tmp_path: Path) -> None:
    figures = await scenario(tmp_path, "kill-replica", kill_one_replica, replicas=2)

    assert_survived(figures)
