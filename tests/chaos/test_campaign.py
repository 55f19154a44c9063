"""The fault runs' own start-up check: a service that does not start fails the scenario, unless a store broke.

A scenario runs again on a fresh stack only when the service failed to start because a store crashed or hung;
a service that fails to start on healthy stores fails the scenario as it is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.stack import local_stack
from tests.chaos.campaign import StoreBroke, serve_and_wait

pytestmark = pytest.mark.chaos


async def test_a_store_that_hangs_while_the_service_starts_is_reported_as_the_stack_failing(
    tmp_path: Path,
) -> None:
    with local_stack(tmp_path, token="tok") as stack:
        stack.extra_env["STORE_STARTUP_RETRY_SECONDS"] = "1"
        stack.falkordb.pause()
        try:
            with pytest.raises(StoreBroke) as failure:
                await serve_and_wait(stack, "hung-store")
        finally:
            stack.falkordb.resume()

    report = str(failure.value)
    assert "the service exited (2)" in report
    assert "graph store (falkordb) is unreachable" in report
    assert f"falkordb: does not answer on port {stack.falkordb.port}" in report
    assert f"valkey: answers on port {stack.valkey.port}" in report


async def test_a_service_that_fails_to_start_on_healthy_stores_fails_as_itself(tmp_path: Path) -> None:
    with local_stack(tmp_path, token="tok") as stack:
        stack.extra_env["GRAPH_BACKEND"] = "no-such-backend"
        with pytest.raises(AssertionError) as failure:
            await serve_and_wait(stack, "misconfigured")

    assert not isinstance(failure.value, StoreBroke)
    assert "invalid configuration" in str(failure.value)
    assert "nats: answers on port" in str(failure.value)
