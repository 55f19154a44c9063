"""Planning read-model conformance (03 §3.3): the in-memory store and ValkeyPlanningStore behave alike."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Protocol

import pytest
from redis.asyncio import Redis, RedisCluster

from context_service.adapters.memory.planning import InMemoryPlanningStore
from context_service.adapters.valkey.planning import ValkeyPlanningStore
from context_service.domain.model import Milestone, PlanningReadModel
from tests.conformance.backends import VALKEYS, ValkeyTarget, raw_client, valkey_client, valkey_target
from tests.support.waiting import eventually

SPEC: dict[str, Any] = {
    "story_id": "S",
    "title": "Checkout — 東京",
    "acceptance_criteria": ["pays", "refunds"],
    "constraints": [],
    "tags": [],
    "requester_id": "po",
    "created_at_ms": 1_793_613_600_000,
    "estimate": 2.5,
    "meta": {"empty": {}, "flag": False, "none": None},
}


class Planning(Protocol):
    """The planning ports plus awaitable seeding helpers (as the planning service would write)."""

    async def load(self, story_id: str, roles: Iterable[str]) -> PlanningReadModel: ...
    async def merge_spec(self, story_id: str, spec: Mapping[str, Any]) -> None: ...
    async def save_handoff(
        self, story_id: str, generated_at_ms: int, bundle: Mapping[str, Any], ttl_seconds: int
    ) -> None: ...
    async def handoff(self, key: str) -> dict[str, Any] | None: ...
    async def put_draft(self, story_id: str, draft: Mapping[str, Any]) -> None: ...
    async def append_planning_event(self, story_id: str, event: Milestone) -> None: ...
    async def put_summary(self, story_id: str, summary: str, role: str = "") -> None: ...


@pytest.fixture(params=["memory", *VALKEYS])
async def planning(request: pytest.FixtureRequest) -> AsyncIterator[Planning]:
    """Each planning store in turn (the Valkey one on the session server, then on the session cluster)."""
    if request.param == "memory":
        yield InMemoryPlanningStore()
        return
    async with valkey_client(valkey_target(request.param, request)) as client:
        yield ValkeyPlanningStore(client=client)


@pytest.fixture(params=VALKEYS)
def valkey_any(request: pytest.FixtureRequest) -> ValkeyTarget:
    """The session's single Valkey, then its Valkey Cluster."""
    return valkey_target(request.param, request)


@pytest.fixture
def story() -> str:
    """A story id of this test alone (the Valkey server is shared)."""
    return f"S-{uuid.uuid4().hex[:12]}"


# --- spec -------------------------------------------------------------------------------------------


async def test_load_of_an_unknown_story_is_empty(planning: Planning, story: str) -> None:
    # Act
    model = await planning.load(story, ["developer"])

    # Assert
    assert model == PlanningReadModel()


async def test_merge_spec_creates_the_spec_with_types_intact(planning: Planning, story: str) -> None:
    # Act
    await planning.merge_spec(story, SPEC)

    # Assert
    model = await planning.load(story, [])
    assert model.spec == SPEC  # [] stays a list ([] != {})


async def test_merge_spec_overwrites_given_fields_and_keeps_the_others(
    planning: Planning, story: str
) -> None:
    # Arrange
    await planning.merge_spec(story, SPEC)

    # Act
    await planning.merge_spec(story, {"current_phase": "BUILD", "title": "Renamed"})

    # Assert
    assert (await planning.load(story, [])).spec == {**SPEC, "current_phase": "BUILD", "title": "Renamed"}


async def test_concurrent_merges_lose_no_field(planning: Planning, story: str) -> None:
    # Arrange
    await planning.merge_spec(story, {"base": True})

    # Act
    await asyncio.gather(*(planning.merge_spec(story, {f"field_{i}": i}) for i in range(100)))

    # Assert
    assert (await planning.load(story, [])).spec == {"base": True} | {f"field_{i}": i for i in range(100)}


# --- draft, stream, summaries -----------------------------------------------------------------------


async def test_draft_plan_is_loaded(planning: Planning, story: str) -> None:
    # Arrange
    draft = {"plan_id": "PLAN-1", "version": 2, "subtasks": [{"task_id": "T-1", "depends_on": []}]}
    await planning.put_draft(story, draft)

    # Act
    model = await planning.load(story, [])

    # Assert
    assert model.draft_plan == draft


async def test_planning_events_are_loaded_as_milestones_in_stream_order(
    planning: Planning, story: str
) -> None:
    # Arrange
    events = [
        Milestone("plan_proposed", "Plan v1 proposed", 1_793_613_600_000, "planner"),
        Milestone("plan_approved", "", 1_793_613_500_000, "po", milestone_id="M-2", status="DONE"),
        Milestone("note", "naïve — 東京", 1_793_613_700_000),
    ]
    for event in events:
        await planning.append_planning_event(story, event)

    # Act
    model = await planning.load(story, [])

    # Assert
    assert model.timeline == tuple(events)


async def test_summaries_are_loaded_for_the_story_and_only_the_roles_asked(
    planning: Planning, story: str
) -> None:
    # Arrange
    await planning.put_summary(story, "Story so far")
    await planning.put_summary(story, "Developer so far", role="developer")
    await planning.put_summary(story, "QA so far", role="qa")

    # Act
    model = await planning.load(story, ["developer", "architect", "developer"])

    # Assert
    assert (model.story_summary, dict(model.role_summaries)) == (
        "Story so far",
        {"developer": "Developer so far"},
    )
    assert (model.summary_for("developer"), model.summary_for("architect")) == (
        "Developer so far",
        "Story so far",
    )


async def test_read_models_of_one_story_are_invisible_to_another(planning: Planning, story: str) -> None:
    # Arrange
    await planning.merge_spec(story, {"title": "mine"})
    await planning.put_draft(story, {"plan_id": "P"})
    await planning.append_planning_event(story, Milestone("e", "d", 1))
    await planning.put_summary(story, "mine")
    await planning.put_summary(story, "mine", role="qa")

    # Act
    model = await planning.load(f"{story}-other", ["qa"])

    # Assert
    assert model == PlanningReadModel()


# --- handoff bundles --------------------------------------------------------------------------------


async def test_handoff_is_stored_under_its_timestamp_and_as_latest(planning: Planning, story: str) -> None:
    # Arrange
    bundle = {"case_id": story, "packs": {"developer": {"subtasks": []}}, "stats": {"events": 3}}

    # Act
    await planning.save_handoff(story, 1_700_000_000_123, bundle, ttl_seconds=60)

    # Assert
    stamped = await planning.handoff(f"swe:case:{story}:handoff:1700000000123")
    latest = await planning.handoff(f"swe:case:{story}:handoff:latest")
    assert (stamped, latest) == (bundle, bundle)


async def test_latest_handoff_is_the_newest_bundle_and_older_ones_stay(
    planning: Planning, story: str
) -> None:
    # Arrange
    await planning.save_handoff(story, 1, {"n": 1}, ttl_seconds=60)

    # Act
    await planning.save_handoff(story, 2, {"n": 2}, ttl_seconds=60)

    # Assert
    keys = [f"swe:case:{story}:handoff:{suffix}" for suffix in ("1", "2", "latest")]
    assert [await planning.handoff(key) for key in keys] == [{"n": 1}, {"n": 2}, {"n": 2}]


async def test_handoff_bundles_expire_after_their_ttl(planning: Planning, story: str) -> None:
    # Arrange
    await planning.save_handoff(story, 5, {"n": 5}, ttl_seconds=1)
    saved_at = time.monotonic()
    keys = [f"swe:case:{story}:handoff:5", f"swe:case:{story}:handoff:latest"]
    served = [await planning.handoff(key) for key in keys]

    async def both_gone() -> bool:
        return [await planning.handoff(key) for key in keys] == [None, None]

    # Act
    await eventually(both_gone, within=5, what="handoff expiry")

    # Assert
    assert served == [{"n": 5}, {"n": 5}]
    assert time.monotonic() - saved_at >= 0.9  # gone because the TTL elapsed, not earlier


# --- the shared key formats in Valkey ---------------------------------------------------------------


@pytest.fixture
async def raw(valkey_any: ValkeyTarget) -> AsyncIterator[Redis | RedisCluster]:
    """A plain client of the session server, to look at the keys as other fleet services do."""
    client = raw_client(valkey_any)
    yield client
    await client.aclose()


@pytest.fixture
async def valkey_planning(valkey_any: ValkeyTarget) -> AsyncIterator[ValkeyPlanningStore]:
    """The Valkey planning store on the session server (or cluster)."""
    async with valkey_client(valkey_any) as client:
        yield ValkeyPlanningStore(client=client)


@pytest.mark.integration
async def test_keys_are_written_exactly_in_the_shared_formats(
    valkey_planning: ValkeyPlanningStore, raw: Redis | RedisCluster, story: str
) -> None:
    # Arrange
    base = f"swe:case:{story}"

    # Act
    await valkey_planning.merge_spec(story, SPEC)
    await valkey_planning.put_draft(story, {"plan_id": "P"})
    await valkey_planning.append_planning_event(story, Milestone("plan_approved", "ok", 42, "po"))
    await valkey_planning.put_summary(story, "story summary")
    await valkey_planning.put_summary(story, "dev summary", role="developer")
    await valkey_planning.save_handoff(story, 99, {"b": 1}, ttl_seconds=600)

    # Assert
    keys = sorted([k async for k in raw.scan_iter(match=f"{base}:*")])
    assert keys == sorted(
        f"{base}:{suffix}"
        for suffix in (
            "spec",
            "planning:draft",
            "planning:stream",
            "summaries:last",
            "role:developer:summaries:last",
            "handoff:99",
            "handoff:latest",
        )
    )
    assert json.loads(await raw.get(f"{base}:spec")) == SPEC
    assert json.loads(await raw.get(f"{base}:planning:draft")) == {"plan_id": "P"}
    assert await raw.type(f"{base}:planning:stream") == "stream"
    [(_, fields)] = await raw.xrange(f"{base}:planning:stream")
    assert (sorted(fields), fields["event"], fields["actor"], fields["ts"]) == (
        ["actor", "event", "payload", "ts"],
        "plan_approved",
        "po",
        "42",
    )
    assert json.loads(fields["payload"])["description"] == "ok"
    assert await raw.get(f"{base}:summaries:last") == "story summary"
    assert await raw.get(f"{base}:role:developer:summaries:last") == "dev summary"
    for suffix in ("99", "latest"):
        assert json.loads(await raw.get(f"{base}:handoff:{suffix}")) == {"b": 1}
        assert 0 < await raw.ttl(f"{base}:handoff:{suffix}") <= 600
    assert await raw.ttl(f"{base}:spec") == -1  # shared read-models are not given a TTL by this service


@pytest.mark.integration
async def test_read_models_written_by_other_services_are_loaded(
    valkey_planning: ValkeyPlanningStore, raw: Redis | RedisCluster, story: str
) -> None:
    # Arrange
    base = f"swe:case:{story}"
    await raw.set(f"{base}:spec", json.dumps({"story_id": story, "title": "T"}))
    await raw.set(f"{base}:planning:draft", json.dumps({"subtasks": [{"task_id": "T-1"}]}))
    stream = f"{base}:planning:stream"
    await raw.xadd(
        stream, {"event": "create_case_spec", "actor": "sys", "ts": "10", "payload": "{}"}, id="10-0"
    )
    approve = {"event": "approve_plan", "actor": "po", "ts": "20", "payload": json.dumps({"version": 1})}
    await raw.xadd(stream, approve, id="20-0")
    await raw.xadd(stream, {"event": "note", "payload": "plain text"}, id="30-0")
    await raw.set(f"{base}:role:qa:summaries:last", "qa summary")

    # Act
    model = await valkey_planning.load(story, ["qa"])

    # Assert
    assert (model.spec, model.draft_plan) == (
        {"story_id": story, "title": "T"},
        {"subtasks": [{"task_id": "T-1"}]},
    )
    assert model.timeline == (
        Milestone("create_case_spec", "", 10, "sys"),
        Milestone("approve_plan", '{"version":1}', 20, "po"),
        Milestone("note", "plain text", 30, ""),  # no ts field: the stream id's milliseconds
    )
    assert (model.story_summary, dict(model.role_summaries)) == ("", {"qa": "qa summary"})


@pytest.mark.integration
async def test_unreadable_read_models_are_treated_as_absent(
    valkey_planning: ValkeyPlanningStore, raw: Redis | RedisCluster, story: str
) -> None:
    # Arrange
    await raw.set(f"swe:case:{story}:spec", "not json")
    await raw.set(f"swe:case:{story}:planning:draft", json.dumps(["a", "list"]))

    # Act
    model = await valkey_planning.load(story, [])

    # Assert
    assert (model.spec, model.draft_plan) == (None, None)


@pytest.mark.integration
async def test_load_reads_only_the_newest_stream_entries_it_may_need(
    raw: Redis | RedisCluster, valkey_any: ValkeyTarget
) -> None:
    # Arrange
    story = f"S-{uuid.uuid4().hex[:12]}"
    for n in range(1, 8):
        await raw.xadd(f"swe:case:{story}:planning:stream", {"event": "e", "ts": str(n), "payload": "{}"})

    # Act
    async with valkey_client(valkey_any) as client:
        model = await ValkeyPlanningStore(client=client, max_stream_events=3).load(story, [])

    # Assert
    assert [m.ts_ms for m in model.timeline] == [5, 6, 7]
