"""Canonical RPC log lines: correlation and trace ids present; payloads, tokens and context text absent."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

import grpc
import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider

from context_service.adapters.grpc.interceptors import TokenAuthInterceptor, TracingInterceptor
from context_service.adapters.grpc.security import TokenFile
from context_service.config import SessionSettings
from context_service.observability.logging import merge_bound_fields
from fleet.context.session.v1 import session_pb2
from fleet.context.v1 import context_pb2 as pb
from tests.e2e.builders import change, update_request
from tests.support.harness import Service, running_service

TOKEN = "tok-SECRET-4a1b9e"
WRONG_TOKEN = "tok-WRONG-77c0d1"
STORY = "STORY-LOGS-1"
TITLE = "Title-MARK-5e2a"
DESCRIPTION = "Description-MARK-c81f"
PAYLOAD_TEXT = "Payload-MARK-0b3d"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CORRELATION_ID = "corr-logs-42"
METADATA = (
    ("authorization", f"Bearer {TOKEN}"),
    ("x-correlation-id", CORRELATION_ID),
    ("traceparent", f"00-{TRACE_ID}-b7ad6b7169203331-01"),
)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    """A service with tracing (its own provider) and token authentication."""
    tokens = tmp_path / "tokens"
    tokens.write_text(TOKEN + "\n", encoding="utf-8")
    interceptors = [
        TracingInterceptor(tracer_provider=TracerProvider()),
        TokenAuthInterceptor(tokens=TokenFile(path=tokens)),
    ]
    async with running_service(interceptors=interceptors) as svc:
        yield svc


async def scripted_calls(service: Service) -> list[str]:
    """Create, update (with a payload), read (rendering the context), and one refused call; rendered text."""
    stub = service.stub
    await stub.CreateStory(
        pb.CreateStoryRequest(story_id=STORY, title=TITLE, description=DESCRIPTION, initial_phase="BUILD"),
        metadata=METADATA,
    )
    milestone = change("CREATE", "MILESTONE", "M-1", {"event_type": "review", "description": PAYLOAD_TEXT})
    await stub.UpdateContext(update_request(milestone, story_id=STORY), metadata=METADATA)
    read = pb.GetContextRequest(story_id=STORY, role="developer", phase="BUILD")
    rendered = await stub.GetContext(read, metadata=METADATA)
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.GetContext(read, metadata=(("authorization", f"Bearer {WRONG_TOKEN}"),))
    return [rendered.context]


async def captured(service: Service) -> tuple[list[MutableMapping[str, Any]], list[str]]:
    """Every log entry (with the bound fields merged, as configured logging does) of the scripted calls."""
    with structlog.testing.capture_logs(processors=[merge_bound_fields]) as entries:
        rendered = await scripted_calls(service)
    return entries, rendered


async def test_each_canonical_rpc_line_carries_the_correlation_and_trace_ids(service: Service) -> None:
    entries, _ = await captured(service)

    canonical = [entry for entry in entries if entry["event"] == "rpc"]

    assert [entry["method"] for entry in canonical] == ["CreateStory", "UpdateContext", "GetContext"]
    assert {entry["correlation_id"] for entry in canonical} == {CORRELATION_ID}
    assert {entry["trace_id"] for entry in canonical} == {TRACE_ID}
    assert all(entry["code"] == "OK" and entry["story_id"] == STORY for entry in canonical)


async def test_no_log_line_holds_a_payload_a_token_or_context_text(service: Service) -> None:
    entries, rendered = await captured(service)

    text = json.dumps(entries, default=str)

    assert TITLE in rendered[0]  # the context did render the marked title
    for secret in (TOKEN, WRONG_TOKEN, TITLE, DESCRIPTION, PAYLOAD_TEXT, rendered[0]):
        assert secret not in text


async def test_a_canonical_line_names_the_session_or_the_story_the_request_carries() -> None:
    async with running_service(sessions=SessionSettings()) as svc:
        with structlog.testing.capture_logs(processors=[merge_bound_fields]) as entries:
            await svc.sessions.Put(session_pb2.PutRequest(session_id="S-LOGS", key="k", value_json="1"))
            await svc.sessions.Get(session_pb2.GetRequest(session_id="S-LOGS", key="k"))
            with pytest.raises(grpc.aio.AioRpcError):
                await svc.stub.RehydrateSession(pb.RehydrateSessionRequest(case_id="CASE-LOGS", roles=["qa"]))
            await svc.stub.ValidateScope(pb.ValidateScopeRequest(role="developer", phase="BUILD"))
            await svc.stub.ValidateScope(pb.ValidateScopeRequest(role="qa", phase="BUILD"))

    named = [
        {key: entry[key] for key in ("method", "session_id", "story_id", "code") if key in entry}
        for entry in entries
        if entry["event"] == "rpc"
    ]
    assert named == [
        {"method": "Put", "session_id": "S-LOGS", "code": "OK"},
        {"method": "Get", "session_id": "S-LOGS", "code": "OK"},
        {"method": "RehydrateSession", "story_id": "CASE-LOGS", "code": "NOT_FOUND"},
        {"method": "ValidateScope", "story_id": "", "code": "OK"},
        {"method": "ValidateScope", "story_id": "", "code": "OK"},
    ]
