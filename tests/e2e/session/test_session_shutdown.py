"""A Watch ended by shutdown: the client is told UNAVAILABLE, and the log says so, not that the RPC failed."""

from __future__ import annotations

import grpc
import structlog

from context_service.adapters.grpc.admission import DRAINING_MESSAGE
from fleet.context.session.v1 import session_pb2 as pb
from tests.e2e.session.support import PROGRESS, new_id, take
from tests.support.harness import running_service


async def test_a_watch_ended_by_shutdown_is_logged_as_unavailable_not_as_a_failure() -> None:
    async with running_service(sessions=PROGRESS) as svc:
        call = svc.sessions.Watch(pb.WatchRequest(session_id=new_id()))
        await take(call, 1, skip_progress=False)  # the first PROGRESS: the watch is open
        with structlog.testing.capture_logs() as logs:
            await svc.server.__aexit__(None, None, None)
            code, details = await call.code(), await call.details()
    assert (code, details) == (grpc.StatusCode.UNAVAILABLE, DRAINING_MESSAGE)
    watch_lines = [line for line in logs if line.get("method") == "Watch"]
    assert [(line["event"], line.get("code")) for line in watch_lines] == [("rpc", "UNAVAILABLE")]
