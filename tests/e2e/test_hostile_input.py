"""Hostile text in every field of every unary RPC of every service built (v1; session and admin where built),
on FalkorDB+Valkey: never INTERNAL or UNKNOWN, never a partial write (a rejected call leaves the story's graph
as it was)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from context_service.local_servers import LocalServer
from fleet.context.v1 import context_pb2 as pb
from tests.support.backends import falkordb_valkey_adapters
from tests.support.fakes import FixedClock, SequentialIds
from tests.support.harness import Service, running_service
from tests.support.services import built_services

pytestmark = pytest.mark.e2e
STORY, TASK = "S-FUZZ", "T-FUZZ"
VALKEY_DB = 4  # the golden runs use 1-3; shared key formats have no prefix to isolate by
NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


def _methods() -> dict[str, MethodDescriptor]:
    """Unary methods by name: bare for v1 (as the examples name them), `Service.Method` for the others."""
    v1, *others = built_services()
    found = {m.name: m for m in v1.methods}
    for service in others:
        found |= {f"{service.name}.{m.name}": m for m in service.methods if not m.server_streaming}
    return found


METHODS = _methods()
LONG_EXAMPLES = 1500  # make test-chaos; make test runs the 600 of the test below
HOSTILE = [
    "\x00",
    f"{STORY}\x00",
    "a\x00b",
    "'}) DETACH DELETE n //",
    '"}) MATCH (n) DETACH DELETE n //',
    '\\"}) RETURN 1 //',
    "../../etc/passwd",
    "..\\..\\windows",
    "\x01\x1b[31m\x7f\x85",
    "\r\n\t",
    "\u202eevil\ufeff\uffff",
    "Zürich 東京 😀",
    "x" * 300_000,
    " ",
    "",
]
PHASES = ["BUILD", "DESIGN", "VALIDATE", ""]
PLAUSIBLE = {  # per field name; any other string field gets plain prose
    "story_id": [STORY],
    "case_id": [STORY],
    "node_id": [STORY, TASK],
    "task_id": [TASK, "T-NEW"],
    "subtask_id": ["", TASK],
    "dependencies": [TASK],
    "role": ["developer", "architect"],
    "roles": ["developer", "qa"],
    "phase": PHASES,
    "to_phase": PHASES,
    "from_phase": PHASES,
    "initial_phase": PHASES,
    "node_type": ["Story", "Task"],
    "operation": ["CREATE", "UPDATE"],
    "entity_type": ["MILESTONE", "DECISION", "SUBTASK"],
    "entity_id": ["M-1", "D-1", TASK],
    "payload": ['{"title": "t", "description": "d"}', ""],
    "decision_type": ["ARCHITECTURE", "TESTING"],
    "metadata": ["role", "task_ids", "note"],
    "timestamp": ["2026-01-01T00:00:00Z", ""],
    "session_id": ["sess-fuzz"],
    "key": ["k1", "k2"],
    "value_json": ['{"a": 1}', "[]"],
    "keys": ["k1"],
    "pattern": ["*", "k*"],
    "document_json": ["{}"],
}
hostile = st.one_of(
    st.sampled_from(HOSTILE),
    st.builds(lambda a, b: a + b, st.sampled_from([STORY, TASK, "x"]), st.sampled_from(HOSTILE)),
    st.text(max_size=30),
)
Draw = Callable[[st.SearchStrategy[Any]], Any]


def _text(draw: Draw, name: str) -> str:
    """A plausible value for the field three times in four, else a hostile one."""
    if draw(st.integers(0, 3)):
        return str(draw(st.sampled_from(PLAUSIBLE.get(name, ["Plain prose."]))))
    return str(draw(hostile))


def _scalar(draw: Draw, field: FieldDescriptor) -> object:
    if field.type == FieldDescriptor.TYPE_STRING:
        return _text(draw, field.name)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return draw(st.booleans())
    return draw(st.integers(min_value=-1, max_value=2000))


def _fill(draw: Draw, msg: Message, descriptor: Descriptor) -> Message:
    """Every field of `msg` drawn: strings from the hostile pool, nested messages, lists and maps too."""
    for field in descriptor.fields:
        target = getattr(msg, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            for _ in range(draw(st.integers(0, 3))):
                target[_text(draw, field.name)] = _text(draw, "")
        elif field.is_repeated and field.message_type is not None:
            for _ in range(draw(st.integers(0, 2))):
                _fill(draw, target.add(), field.message_type)
        elif field.is_repeated:
            target.extend(_scalar(draw, field) for _ in range(draw(st.integers(0, 3))))
        elif field.message_type is not None:
            _fill(draw, target, field.message_type)
        else:
            setattr(msg, field.name, _scalar(draw, field))
    return msg


def _surrogate_field(draw: Draw, descriptor: Descriptor) -> bytes:
    """A top-level string field holding an encoded lone surrogate (not UTF-8), appended so it wins."""
    names = [f for f in descriptor.fields if f.type == FieldDescriptor.TYPE_STRING and not f.is_repeated]
    field = draw(st.sampled_from(names))
    value = draw(st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3)).encode(
        "utf-8", "surrogatepass"
    )
    return _varint(field.number << 3 | 2) + _varint(len(value)) + value


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


@st.composite
def calls(draw: Draw) -> tuple[str, bytes]:
    """One unary RPC of a built service with every request field drawn, as the bytes sent on the wire."""
    method = draw(st.sampled_from(sorted(METHODS)))
    descriptor = METHODS[method].input_type
    body = _fill(draw, GetMessageClass(descriptor)(), descriptor).SerializeToString()
    if draw(st.integers(0, 9)) == 0:
        body += _surrogate_field(draw, descriptor)
    return method, body


def wire(method: str, request: Message) -> tuple[str, bytes]:
    """An explicit example's call."""
    return method, request.SerializeToString()


@pytest.fixture(scope="module")
async def fuzzed(falkordb: LocalServer, valkey: LocalServer) -> AsyncIterator[Service]:
    """The service on FalkorDB+Valkey with one story holding a task."""
    clock, ids = FixedClock(step_ms=1), SequentialIds()
    async with (
        falkordb_valkey_adapters(
            falkordb=falkordb, valkey=valkey, valkey_db=VALKEY_DB, clock=clock, ids=ids
        ) as adapters,
        running_service(adapters=adapters) as service,
    ):
        await service.stub.CreateStory(pb.CreateStoryRequest(story_id=STORY, title="Fuzz"))
        await service.stub.CreateTask(
            pb.CreateTaskRequest(story_id=STORY, task_id=TASK, title="Target", role="developer")
        )
        yield service


async def _outcome(service: Service, method: str, body: bytes) -> grpc.StatusCode:
    """The status of one call sent as raw bytes (so bodies that are not valid messages reach the server)."""
    rpc = METHODS[method]
    path = f"/{rpc.containing_service.full_name}/{rpc.name}"
    send = service.channel.unary_unary(path, request_serializer=bytes, response_deserializer=bytes)
    try:
        await send(body, timeout=30)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


@settings(max_examples=600, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(call=calls())
@example(call=wire("CreateStory", pb.CreateStoryRequest(story_id="S-NUL\x00", title="t")))
@example(call=wire("CreateTask", pb.CreateTaskRequest(story_id=STORY, task_id="T-2", title="a\x00b")))
@example(
    call=wire("AddProjectDecision", pb.AddProjectDecisionRequest(story_id=STORY, metadata={"k\x00": "v"}))
)
@example(
    call=wire("GetGraphRelationships", pb.GetGraphRelationshipsRequest(node_id="\x00", node_type="Story"))
)
@example(
    call=(
        "CreateStory",
        wire("CreateStory", pb.CreateStoryRequest(story_id=STORY))[1] + b"\x12\x03\xed\xa0\x80",
    )
)
async def test_hostile_text_in_any_field_is_rejected_cleanly_or_stored_whole(
    fuzzed: Service, call: tuple[str, bytes]
) -> None:
    await check_call(fuzzed, call)


@pytest.mark.chaos
@settings(max_examples=LONG_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(call=calls())
async def test_many_more_hostile_calls_are_rejected_cleanly_or_stored_whole(
    fuzzed: Service, call: tuple[str, bytes]
) -> None:
    await check_call(fuzzed, call)


async def check_call(fuzzed: Service, call: tuple[str, bytes]) -> None:
    """One call: never INTERNAL or UNKNOWN; a rejected call leaves the story's graph as it was."""
    # Arrange
    method, request = call
    before = await fuzzed.adapters.graph.load_story_graph(STORY)

    # Act
    code = await _outcome(fuzzed, method, request)

    # Assert
    event(f"{method} {code.name}")  # the spread of outcomes, for --hypothesis-show-statistics
    assert code not in NEVER, (method, request[:300])
    after = await fuzzed.adapters.graph.load_story_graph(STORY)
    assert after is not None, (method, request[:300])  # text is data, never query syntax
    if code is not grpc.StatusCode.OK:
        assert after == before, (method, code)
    elif method == "CreateTask":
        _assert_task_stored_whole(before, after, pb.CreateTaskRequest.FromString(request))


def _assert_task_stored_whole(before: Any, after: Any, sent: pb.CreateTaskRequest) -> None:
    """A task this call created holds exactly the (trimmed) text sent: hostile text is data, kept whole."""
    if sent.story_id != STORY or before.task(sent.task_id.strip()) is not None:
        return  # another story's task, or an idempotent re-create that changes nothing
    stored = after.task(sent.task_id.strip())
    assert stored is not None, sent.task_id
    assert (stored.title, stored.description) == (sent.title.strip(), sent.description.strip())
