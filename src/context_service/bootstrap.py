"""The composition root: builds adapters from settings and wires the use cases. Imported by nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from context_service.adapters.memory.events import InMemoryEventPublisher
from context_service.adapters.memory.graph import InMemoryGraph
from context_service.adapters.memory.kv import InMemoryKeyValueStore
from context_service.adapters.memory.planning import InMemoryPlanningStore
from context_service.adapters.policy_file import load_policy
from context_service.adapters.system import RandomIds, SystemClock
from context_service.adapters.tokenizer import default_counter
from context_service.application.add_project_decision import AddProjectDecision
from context_service.application.create_story import CreateStory
from context_service.application.create_task import CreateTask
from context_service.application.get_context import GetContext
from context_service.application.get_graph_relationships import GetGraphRelationships
from context_service.application.planning_nodes import RegisterPlanning
from context_service.application.rehydrate_session import RehydrateSession
from context_service.application.services import UseCases
from context_service.application.transition_phase import TransitionPhase
from context_service.application.update_context import UpdateContext
from context_service.application.validate_scope import ValidateScope
from context_service.config import Settings
from context_service.domain.policy import ScopePolicy
from context_service.ports.events import EventPublisher
from context_service.ports.graph import (
    GraphWriter,
    HistoryReader,
    NodeLocator,
    RelationshipReader,
    StoryReader,
)
from context_service.ports.kv import KeyValueStore
from context_service.ports.planning import HandoffWriter, PlanningReader, SpecWriter
from context_service.ports.system import Clock, IdGenerator, TokenCounter


class GraphStore(StoryReader, NodeLocator, RelationshipReader, GraphWriter, HistoryReader, Protocol):
    """Every graph port at once (what a graph adapter provides)."""


class PlanningStore(PlanningReader, SpecWriter, HandoffWriter, Protocol):
    """Every planning read-model port at once."""


@dataclass(frozen=True)
class Adapters:
    """The outbound adapters one service instance runs on."""

    graph: GraphStore
    planning: PlanningStore
    kv: KeyValueStore
    publisher: EventPublisher
    clock: Clock
    ids: IdGenerator
    tokens: TokenCounter


@dataclass(frozen=True)
class Container:
    """The wired application: use cases plus what the CLI needs beside them."""

    use_cases: UseCases
    planning_nodes: RegisterPlanning
    adapters: Adapters
    policy: ScopePolicy


def memory_adapters(
    *,
    graph: InMemoryGraph | None = None,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    tokens: TokenCounter | None = None,
) -> Adapters:
    """The zero-dependency in-memory backend."""
    return Adapters(
        graph=graph or InMemoryGraph(),
        planning=InMemoryPlanningStore(),
        kv=InMemoryKeyValueStore(),
        publisher=InMemoryEventPublisher(),
        clock=clock or SystemClock(),
        ids=ids or RandomIds(),
        tokens=tokens or default_counter(),
    )


def wire(adapters: Adapters, policy: ScopePolicy) -> Container:
    """Plain constructors, keyword arguments only."""
    a = adapters
    use_cases = UseCases(
        get_context=GetContext(policy=policy, stories=a.graph, planning=a.planning, tokens=a.tokens),
        update_context=UpdateContext(
            policy=policy,
            stories=a.graph,
            nodes=a.graph,
            writer=a.graph,
            idempotency=a.kv,
            publisher=a.publisher,
            clock=a.clock,
        ),
        rehydrate_session=RehydrateSession(
            policy=policy, stories=a.graph, planning=a.planning, handoffs=a.planning, clock=a.clock
        ),
        validate_scope=ValidateScope(policy=policy),
        create_story=CreateStory(stories=a.graph, writer=a.graph, specs=a.planning, clock=a.clock),
        create_task=CreateTask(policy=policy, nodes=a.graph, writer=a.graph, clock=a.clock),
        add_project_decision=AddProjectDecision(nodes=a.graph, writer=a.graph, ids=a.ids, clock=a.clock),
        transition_phase=TransitionPhase(
            stories=a.graph, writer=a.graph, specs=a.planning, publisher=a.publisher, ids=a.ids, clock=a.clock
        ),
        get_graph_relationships=GetGraphRelationships(relationships=a.graph),
    )
    return Container(use_cases, RegisterPlanning(writer=a.graph, clock=a.clock), adapters, policy)


@asynccontextmanager
async def build_container(settings: Settings) -> AsyncIterator[Container]:
    """Open the configured adapters (closed in reverse order on exit) and wire them."""
    policy = load_policy(settings.prompt_scopes_path)
    async with AsyncExitStack() as stack:
        graph = await stack.enter_async_context(InMemoryGraph())  # GRAPH_BACKEND=memory is the only one yet
        adapters = memory_adapters(graph=graph)
        yield wire(adapters, policy)
