"""Bad input over real gRPC: INVALID_ARGUMENT naming the field, and nothing stored."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest

from fleet.context.session.v1 import session_pb2 as pb
from fleet.context.session.v1 import session_pb2_grpc as pb_grpc
from tests.e2e.session.support import PROGRESS, new_id, status_of
from tests.support.harness import Service, running_service

Stub = pb_grpc.SessionContextServiceStub
Call = Callable[[Stub, str], Awaitable[object]]
CONTROL = "bad\x07key"
LONG_KEY = "k" * 513


def put(sid: str, **fields: object) -> pb.PutRequest:
    base: dict[str, object] = {"session_id": sid, "key": "k", "value_json": "1"}
    return pb.PutRequest(**{**base, **fields})  # type: ignore[arg-type]


def batch(sid: str, *items: pb.PutItem) -> pb.BatchPutRequest:
    return pb.BatchPutRequest(session_id=sid, items=[pb.PutItem(key="good", value_json="1"), *items])


CASES: list[tuple[str, Call, str]] = [
    ("empty-session-id", lambda s, sid: s.Put(put("")), "session_id"),
    ("control-in-session-id", lambda s, sid: s.Put(put("a\nb")), "session_id"),
    ("dot-in-session-id", lambda s, sid: s.Put(put("a.b")), "session_id"),
    ("empty-key", lambda s, sid: s.Put(put(sid, key="")), "key"),
    ("long-key", lambda s, sid: s.Put(put(sid, key=LONG_KEY)), "key"),
    ("control-in-key", lambda s, sid: s.Put(put(sid, key=CONTROL)), "key"),
    ("invalid-json", lambda s, sid: s.Put(put(sid, value_json="{nope")), "value_json"),
    ("empty-json", lambda s, sid: s.Put(put(sid, value_json="")), "value_json"),
    ("negative-ttl", lambda s, sid: s.Put(put(sid, ttl_ms=-1)), "ttl_ms"),
    ("oversized-value", lambda s, sid: s.Put(put(sid, value_json='"' + "x" * 102_400 + '"')), "value_json"),
    ("negative-expected-version", lambda s, sid: s.Put(put(sid, expected_version=-1)), "expected_version"),
    ("control-in-tag", lambda s, sid: s.Put(put(sid, tags=[CONTROL])), "tags"),
    (
        "batch-bad-item-json",
        lambda s, sid: s.BatchPut(batch(sid, pb.PutItem(key="x", value_json="nope"))),
        "items[1].value_json",
    ),
    (
        "batch-duplicate-keys",
        lambda s, sid: s.BatchPut(batch(sid, pb.PutItem(key="good", value_json="2"))),
        "items[1].key",
    ),
    (
        "batch-over-1000-items",
        lambda s, sid: s.BatchPut(
            pb.BatchPutRequest(
                session_id=sid, items=[pb.PutItem(key=f"k{i}", value_json="1") for i in range(1001)]
            )
        ),
        "items",
    ),
    ("batch-empty", lambda s, sid: s.BatchPut(pb.BatchPutRequest(session_id=sid)), "items"),
    ("get-empty-key", lambda s, sid: s.Get(pb.GetRequest(session_id=sid, key="")), "key"),
    (
        "batch-get-long-key",
        lambda s, sid: s.BatchGet(pb.BatchGetRequest(session_id=sid, keys=["a", LONG_KEY])),
        "keys[1]",
    ),
    ("find-page-size", lambda s, sid: s.Find(pb.FindRequest(session_id=sid, page_size=1001)), "page_size"),
    (
        "find-page-token",
        lambda s, sid: s.Find(pb.FindRequest(session_id=sid, page_token="%%%")),
        "page_token",
    ),
    ("list-page-size", lambda s, sid: s.ListSessions(pb.ListSessionsRequest(page_size=-1)), "page_size"),
    (
        "create-negative-default-ttl",
        lambda s, sid: s.CreateSession(
            pb.CreateSessionRequest(session_id=sid, options=pb.SessionOptions(default_ttl_ms=-5))
        ),
        "options.default_ttl_ms",
    ),
    ("delete-empty-key", lambda s, sid: s.Delete(pb.DeleteRequest(session_id=sid, key="")), "key"),
    (
        "delete-negative-expected-version",
        lambda s, sid: s.Delete(pb.DeleteRequest(session_id=sid, key="k", expected_version=-1)),
        "expected_version",
    ),
    (
        "batch-negative-expected-version",
        lambda s, sid: s.BatchPut(batch(sid, pb.PutItem(key="x", value_json="1", expected_version=-1))),
        "items[1].expected_version",
    ),
    (
        "watch-negative-revision",
        lambda s, sid: s.Watch(pb.WatchRequest(session_id=sid, after_revision=-1)).read(),
        "after_revision",
    ),
]


@pytest.fixture(scope="module")
async def svc() -> AsyncIterator[Service]:
    """One service for the whole table (every case uses its own session)."""
    async with running_service(sessions=PROGRESS) as service:
        yield service


@pytest.mark.parametrize(("call", "field"), [pytest.param(c, f, id=i) for i, c, f in CASES])
async def test_bad_input_is_invalid_argument_naming_the_field_and_stores_nothing(
    svc: Service, call: Call, field: str
) -> None:
    sid = new_id()
    code, details = await status_of(call(svc.sessions, sid))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith(field)
    listed = await svc.sessions.ListSessions(pb.ListSessionsRequest(prefix=sid))
    assert list(listed.sessions) == []


async def test_a_request_that_is_not_a_valid_message_is_invalid_argument(svc: Service) -> None:
    sid = new_id()
    # field 2 (key) holding an encoded lone surrogate: not UTF-8, so not a valid PutRequest.
    body = pb.PutRequest(session_id=sid, value_json="1").SerializeToString() + b"\x12\x03\xed\xa0\x80"
    send = svc.channel.unary_unary(
        "/fleet.context.session.v1.SessionContextService/Put",
        request_serializer=bytes,
        response_deserializer=bytes,
    )
    code, details = await status_of(send(body))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert "PutRequest" in details
    listed = await svc.sessions.ListSessions(pb.ListSessionsRequest(prefix=sid))
    assert list(listed.sessions) == []


async def test_a_raw_control_character_in_a_value_is_invalid_argument_naming_it(svc: Service) -> None:
    sid = new_id()
    code, details = await status_of(svc.sessions.Put(put(sid, value_json='"a\x01b"')))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("value_json")
