"""A cached answer is byte for byte the answer an uncached service gives, for random stories and requests.

Two services share one in-memory graph and planning store: one with the response cache on, one with it off.
Every GetContext and RehydrateSession is asked twice of the caching service (built, then served from the
cache) and once of the other; the encoded replies (and GetContext's trailers) must be identical.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from context_service.adapters.cache.responses import LruResponseCache
from context_service.bootstrap import memory_adapters
from context_service.observability.metrics import REGISTRY
from fleet.context.v1 import context_pb2 as pb
from tests.support.fakes import FixedClock, SequentialIds
from tests.support.harness import Service, running_service

ROLES = ["developer", "architect", "qa", "devops", "data"]
PHASES = ["DESIGN", "BUILD", "TEST", "DOC"]
SERVICE = "/fleet.context.v1.ContextService/"
HITS = "context_cache_requests_total"
_stories = itertools.count()


@dataclass
class Twins:
    """The caching service and the uncaching one, on the same stores."""

    cached: Service
    uncached: Service


@pytest.fixture(scope="module")
async def twins() -> AsyncIterator[Twins]:
    adapters = memory_adapters(clock=FixedClock(), ids=SequentialIds())
    uncached = dataclasses.replace(adapters, responses=LruResponseCache(0))
    async with running_service(adapters=adapters) as one, running_service(adapters=uncached) as other:
        yield Twins(one, other)


@dataclass(frozen=True)
class StoryShape:
    """What a random story holds."""

    tasks: list[tuple[str, str, int]]  # title, role, how many earlier tasks it depends on
    decisions: list[str]
    milestones: list[str]
    phase: str


texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40
).filter(str.strip)  # a title of spaces alone is refused ("title is required"), as it should be
shapes = st.builds(
    StoryShape,
    tasks=st.lists(st.tuples(texts, st.sampled_from(ROLES), st.integers(0, 2)), max_size=6),
    decisions=st.lists(texts, max_size=3),
    milestones=st.lists(texts, max_size=3),
    phase=st.sampled_from(PHASES),
)
context_requests = st.builds(
    dict,
    role=st.sampled_from(ROLES),
    phase=st.sampled_from(PHASES),
    token_budget=st.sampled_from([0, 0, 50, 400, 5000]),
    subtask=st.integers(-1, 5),
)
rehydrate_requests = st.builds(
    dict,
    roles=st.lists(st.sampled_from(ROLES), min_size=1, max_size=3),
    include_timeline=st.booleans(),
    include_summaries=st.booleans(),
    timeline_events=st.sampled_from([0, 1, 5]),
)


async def written(service: Service, shape: StoryShape) -> tuple[str, list[str]]:
    """The story written through the RPCs: its id and its task ids."""
    story = f"PROP-{next(_stories)}"
    stub = service.stub
    await stub.CreateStory(pb.CreateStoryRequest(story_id=story, title="Story", initial_phase=shape.phase))
    tasks: list[str] = []
    for n, (title, role, deps) in enumerate(shape.tasks):
        task = f"{story}-T{n}"
        request = pb.CreateTaskRequest(
            story_id=story, task_id=task, title=title, role=role, dependencies=tasks[:deps]
        )
        await stub.CreateTask(request)
        tasks.append(task)
    for title in shape.decisions:
        await stub.AddProjectDecision(
            pb.AddProjectDecisionRequest(
                story_id=story, decision_type="ARCHITECTURE", title=title, rationale="r"
            )
        )
    changes = [
        pb.ContextChange(
            operation="CREATE", entity_type="MILESTONE", entity_id=f"{story}-M{n}",
            payload=json.dumps({"event_type": "note", "description": text}), reason="r",
        )
        for n, text in enumerate(shape.milestones)
    ]  # fmt: skip
    if changes:
        await stub.UpdateContext(pb.UpdateContextRequest(story_id=story, role="developer", changes=changes))
    return story, tasks


async def raw(
    service: Service, method: str, request: Message
) -> tuple[bytes | grpc.StatusCode, tuple[object, ...]]:
    """The encoded reply (or the status of a refusal) and the trailers, as a client receives them."""
    call = service.channel.unary_unary(SERVICE + method, request_serializer=type(request).SerializeToString)(
        request
    )
    try:
        body = await call
    except grpc.aio.AioRpcError as err:
        return err.code(), ()
    return body, tuple(await call.trailing_metadata() or ())


def hits() -> float:
    """Answers the response cache has served so far (both services share the process's registry)."""
    return REGISTRY.get_sample_value(HITS, {"cache": "responses", "result": "hit"}) or 0.0


async def identical(twins: Twins, method: str, request: Message) -> None:
    """Asked twice of the caching service and once of the other: the same bytes every time, and the second
    answer of an accepted request came from the cache."""
    first = await raw(twins.cached, method, request)
    served = hits()
    again = await raw(twins.cached, method, request)
    cached = hits() - served
    reference = await raw(twins.uncached, method, request)
    assert first == again == reference
    assert cached == (1 if isinstance(first[0], bytes) else 0)


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    shape=shapes,
    contexts=st.lists(context_requests, min_size=1, max_size=4),
    packs=st.lists(rehydrate_requests, min_size=1, max_size=3),
)
async def test_a_cached_answer_is_byte_identical_to_an_uncached_one(
    twins: Twins, shape: StoryShape, contexts: list[dict[str, object]], packs: list[dict[str, object]]
) -> None:
    story, tasks = await written(twins.cached, shape)
    for asked in contexts:
        n = int(asked.pop("subtask"))  # type: ignore[call-overload]
        subtask = tasks[n] if 0 <= n < len(tasks) else ""
        await identical(
            twins, "GetContext", pb.GetContextRequest(story_id=story, subtask_id=subtask, **asked)
        )
    for asked in packs:
        await identical(twins, "RehydrateSession", pb.RehydrateSessionRequest(case_id=story, **asked))
