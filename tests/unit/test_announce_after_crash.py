"""A process that dies between the graph commit and the outbox record: the retry announces, exactly once."""

from __future__ import annotations

import dataclasses

import pytest

from context_service.adapters.memory.events import DiscardingEventPublisher, InMemoryEventPublisher
from context_service.adapters.policy_file import load_policy
from context_service.adapters.tokenizer import CharEstimateCounter
from context_service.application.common import UPDATED_SUBJECT, RequestMeta
from context_service.application.create_story import StoryRequest
from context_service.application.record_deliberation import DeliberatedDecision, DeliberationCompleted
from context_service.application.transition_phase import TransitionRequest
from context_service.application.update_context import UpdateRequest
from context_service.bootstrap import Container, memory_adapters, wire
from context_service.domain.changes import RawChange
from context_service.ports.events import OutboundEvent
from tests.support.fakes import FixedClock, SequentialIds

STORY_ID = "S-CRASH-1"
KEY = "retry-after-crash"


class Crash(Exception):
    """Stands for the process dying: nothing after the raise point runs."""


class CrashOnceOutbox(DiscardingEventPublisher):
    """An EventPublisher whose next hand-over, once armed, never happens (death before the outbox write)."""

    def __init__(self) -> None:
        self.delivered = InMemoryEventPublisher()
        self.armed = False

    async def publish(self, event: OutboundEvent) -> None:
        """Die once when armed; otherwise record like the outbox and JetStream (deduplicated by key)."""
        if self.armed:
            self.armed = False
            raise Crash
        await self.delivered.publish(event)

    def updated(self) -> list[OutboundEvent]:
        """The context.events.updated events delivered."""
        return [e for e in self.delivered.events if e.subject == UPDATED_SUBJECT]


@pytest.fixture
def outbox() -> CrashOnceOutbox:
    """A fresh crashing outbox."""
    return CrashOnceOutbox()


@pytest.fixture
async def container(outbox: CrashOnceOutbox) -> Container:
    """The in-memory service with the crashing outbox, holding one story with one task."""
    adapters = memory_adapters(clock=FixedClock(), ids=SequentialIds(), tokens=CharEstimateCounter())
    wired = wire(dataclasses.replace(adapters, publisher=outbox), load_policy())
    await wired.use_cases.create_story.execute(StoryRequest(STORY_ID, "Checkout"))
    await wired.use_cases.update_context.execute(
        UpdateRequest(
            STORY_ID, "", "developer", (RawChange("CREATE", "SUBTASK", "T-1", '{"title": "Form"}'),)
        )
    )
    outbox.delivered.events.clear()
    outbox.armed = True
    return wired


def update(*changes: RawChange) -> UpdateRequest:
    """An UpdateContext request on the story."""
    return UpdateRequest(STORY_ID, "T-1", "developer", changes)


async def version_of(container: Container) -> int:
    """The story's context_version as stored."""
    story = await container.adapters.graph.get_story(STORY_ID)
    assert story is not None
    return story.context_version


async def test_a_retried_update_after_a_crash_before_the_outbox_announces_once(
    container: Container, outbox: CrashOnceOutbox
) -> None:
    # Arrange
    request = update(RawChange("CREATE", "MILESTONE", "M-1", '{"title": "Designed"}'))
    meta = RequestMeta(idempotency_key=KEY)
    with pytest.raises(Crash):
        await container.use_cases.update_context.execute(request, meta)

    # Act
    result = await container.use_cases.update_context.execute(request, meta)
    await container.use_cases.update_context.execute(request, meta)

    # Assert
    [event] = outbox.updated()
    assert (result.version, await version_of(container)) == (2, 2)
    assert event.payload["version"] == 2
    assert event.payload["changed"] == [{"entity_type": "MILESTONE", "entity_id": "M-1"}]
    assert event.idempotency_key == f"context.updated:{STORY_ID}:v2"


async def test_a_retried_delete_after_a_crash_announces_what_the_first_attempt_deleted(
    container: Container, outbox: CrashOnceOutbox
) -> None:
    # Arrange: on the retry the task is gone, so nothing is left to apply, yet the commit happened
    request = update(RawChange("DELETE", "SUBTASK", "T-1", "{}"))
    meta = RequestMeta(idempotency_key=KEY)
    with pytest.raises(Crash):
        await container.use_cases.update_context.execute(request, meta)

    # Act
    result = await container.use_cases.update_context.execute(request, meta)

    # Assert
    [event] = outbox.updated()
    assert result.version == 2
    assert event.payload["changed"] == [{"entity_type": "SUBTASK", "entity_id": "T-1"}]


async def test_a_redelivered_deliberation_after_a_crash_announces_once(
    container: Container, outbox: CrashOnceOutbox
) -> None:
    # Arrange
    event = DeliberationCompleted("T-1", (DeliberatedDecision(title="Use Stripe"),), story_id=STORY_ID)
    meta = RequestMeta("corr-1", KEY, occurred_at_ms=1_793_534_400_000)
    with pytest.raises(Crash):
        await container.use_cases.record_deliberation.execute(event, meta)

    # Act
    version = await container.use_cases.record_deliberation.execute(event, meta)
    await container.use_cases.record_deliberation.execute(event, meta)

    # Assert
    [announced] = outbox.updated()
    assert (version, await version_of(container)) == (2, 2)
    assert announced.payload["changed"] == [{"entity_type": "DECISION", "entity_id": "DEC-T-1-0"}]


async def test_a_redelivered_transition_after_a_crash_announces_once(
    container: Container, outbox: CrashOnceOutbox
) -> None:
    # Arrange
    event = TransitionRequest(STORY_ID, "BUILD", from_phase="DESIGN")
    meta = RequestMeta("corr-1", KEY, occurred_at_ms=1_793_534_400_000)
    with pytest.raises(Crash):
        await container.use_cases.transition_phase.execute(event, meta)

    # Act
    changed = await container.use_cases.transition_phase.execute(event, meta)

    # Assert
    [announced] = outbox.updated()
    assert announced.payload["changed"] == [{"entity_type": "PHASE", "entity_id": changed.transition_id}]
    assert announced.idempotency_key == f"context.updated:{STORY_ID}:{changed.transition_id}"
