"""The composition root: builds adapters from settings and wires the use cases. Imported by nothing."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import grpc
import structlog

from context_service.adapters.cache.kv import CachetoolsKeyValueStore
from context_service.adapters.cache.responses import LruResponseCache
from context_service.adapters.cypher.graph import CypherGraph
from context_service.adapters.cypher.kept_loads import KEPT_NODES
from context_service.adapters.falkordb.graph import FalkorGraph
from context_service.adapters.grpc.interceptors import (
    MetricsInterceptor,
    TokenAuthInterceptor,
    TracingInterceptor,
)
from context_service.adapters.grpc.security import TokenFile, server_credentials
from context_service.adapters.grpc.server import GrpcServer
from context_service.adapters.health_monitor import HealthMonitor
from context_service.adapters.memory.events import DiscardingEventPublisher, InMemoryEventPublisher
from context_service.adapters.memory.graph import InMemoryGraph
from context_service.adapters.memory.kv import InMemoryKeyValueStore
from context_service.adapters.memory.planning import InMemoryPlanningStore
from context_service.adapters.memory.session import InMemorySessionStore
from context_service.adapters.nats.publisher import OutboxPublisher
from context_service.adapters.nats.runtime import Messaging
from context_service.adapters.neo4j.graph import Neo4jGraph
from context_service.adapters.periodic import Periodic
from context_service.adapters.policy_file import load_policy
from context_service.adapters.session_sweeper import SessionSweeper
from context_service.adapters.snapshot_schema import JsonSchemaValidator
from context_service.adapters.sqlite.kv import SqliteKeyValueStore
from context_service.adapters.system import RandomIds, SystemClock
from context_service.adapters.tokenizer import default_counter
from context_service.adapters.valkey.client import ValkeyClient
from context_service.adapters.valkey.kv import ValkeyKeyValueStore
from context_service.adapters.valkey.planning import ValkeyPlanningStore
from context_service.adapters.valkey.session import ValkeySessionStore
from context_service.adapters.valkey.tracking import BothCaught
from context_service.application.add_project_decision import AddProjectDecision
from context_service.application.approve_plan import ApprovePlan
from context_service.application.cached_reads import CachedReads
from context_service.application.commit_step import CommitStep
from context_service.application.create_story import CreateStory
from context_service.application.create_task import CreateTask
from context_service.application.dispatch_task import DispatchTask
from context_service.application.get_context import GetContext
from context_service.application.get_graph_relationships import GetGraphRelationships
from context_service.application.get_history import GetHistory
from context_service.application.recent_stories import KEPT_ENTITIES, RecentStories
from context_service.application.record_deliberation import RecordDeliberation
from context_service.application.record_epic import RecordEpic
from context_service.application.record_planned_task import RecordPlannedTask
from context_service.application.record_project import RecordProject
from context_service.application.rehydrate_session import RehydrateSession
from context_service.application.services import UseCases
from context_service.application.session_services import SessionUseCases, session_use_cases
from context_service.application.snapshots import ExportStory, ImportStory
from context_service.application.transition_phase import TransitionPhase
from context_service.application.update_context import UpdateContext
from context_service.application.validate_scope import ValidateScope
from context_service.config import DEFAULT_RESPONSE_CACHE_BYTES, SessionSettings, Settings, StoreSettings
from context_service.domain.policy import ScopePolicy
from context_service.observability.logging import flush_later_lines
from context_service.observability.metrics import count_tasks_of, sample_gauges
from context_service.observability.metrics_server import MetricsServer
from context_service.observability.tracing import tracing
from context_service.ports.errors import StoreMisconfigured, StoreTimeout, StoreUnavailable
from context_service.ports.events import EventPublisher
from context_service.ports.graph import GraphStore
from context_service.ports.health import HealthProbe
from context_service.ports.kv import KeyValueStore
from context_service.ports.planning import HandoffWriter, PlanningReader, ReadModelArchive, SpecWriter
from context_service.ports.responses import ChangeWatch, ResponseCache
from context_service.ports.session import SessionStore
from context_service.ports.system import Clock, IdGenerator, TokenCounter

log = structlog.get_logger()
T = TypeVar("T")


class PlanningStore(PlanningReader, SpecWriter, HandoffWriter, ReadModelArchive, Protocol):
    """Every planning read-model port at once."""


class StartupError(Exception):
    """A store stayed unreachable for the whole start-up bound."""


GraphAdapter = FalkorGraph | Neo4jGraph | InMemoryGraph


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
    probes: tuple[HealthProbe, ...] = ()
    sessions: SessionStore = field(default_factory=InMemorySessionStore)
    responses: ResponseCache = field(default_factory=lambda: LruResponseCache(DEFAULT_RESPONSE_CACHE_BYTES))
    changes: ChangeWatch | None = None


@dataclass(frozen=True)
class Container:
    """The wired application: use cases plus what the CLI needs beside them."""

    use_cases: UseCases
    adapters: Adapters
    policy: ScopePolicy
    sessions: SessionUseCases


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


def wire(adapters: Adapters, policy: ScopePolicy, *, sessions: SessionSettings | None = None) -> Container:
    """Plain constructors, keyword arguments only."""
    a = adapters
    commits = CommitStep(writer=a.graph, log=a.graph, publisher=a.publisher, clock=a.clock)
    # With the response cache off, nothing is kept between calls: every read loads the story anew.
    # A Cypher store keeps its loads itself (to carry them over its own commits): in front of it, loads are
    # only shared.
    kept = 0 if isinstance(a.graph, CypherGraph) else KEPT_ENTITIES
    loads = RecentStories(a.graph, max_entities=kept) if a.responses.enabled else a.graph
    reads = CachedReads(
        stories=loads, revisions=loads, planning=a.planning, cache=a.responses, changes=a.changes
    )
    use_cases = UseCases(
        get_context=GetContext(policy=policy, reads=reads, tokens=a.tokens),
        update_context=UpdateContext(
            policy=policy, stories=loads, nodes=a.graph, commits=commits, idempotency=a.kv, clock=a.clock
        ),
        rehydrate_session=RehydrateSession(policy=policy, reads=reads, handoffs=a.planning, clock=a.clock),
        validate_scope=ValidateScope(policy=policy),
        create_story=CreateStory(stories=a.graph, commits=commits, specs=a.planning, clock=a.clock),
        create_task=CreateTask(policy=policy, nodes=a.graph, commits=commits, clock=a.clock),
        add_project_decision=AddProjectDecision(nodes=a.graph, commits=commits, ids=a.ids, clock=a.clock),
        transition_phase=TransitionPhase(
            stories=a.graph, commits=commits, specs=a.planning, ids=a.ids, clock=a.clock
        ),
        get_graph_relationships=GetGraphRelationships(relationships=a.graph),
        get_history=GetHistory(history=a.graph, stories=a.graph),
        export_story=ExportStory(archive=a.graph, read_models=a.planning),
        import_story=ImportStory(archive=a.graph, read_models=a.planning, schema=JsonSchemaValidator()),
        record_project=RecordProject(commits=commits, clock=a.clock),
        record_epic=RecordEpic(commits=commits, clock=a.clock),
        record_planned_task=RecordPlannedTask(policy=policy, nodes=a.graph, commits=commits, clock=a.clock),
        approve_plan=ApprovePlan(nodes=a.graph, commits=commits, clock=a.clock),
        record_deliberation=RecordDeliberation(policy=policy, nodes=a.graph, commits=commits, clock=a.clock),
        dispatch_task=DispatchTask(policy=policy, nodes=a.graph, commits=commits, ids=a.ids, clock=a.clock),
    )
    s = sessions or SessionSettings()
    session_cases = session_use_cases(
        store=a.sessions,
        publisher=a.publisher,
        clock=a.clock,
        progress_seconds=s.progress_seconds,
        watch_queue_events=s.watch_queue_events,
    )
    return Container(use_cases, adapters, policy, session_cases)


def graph_store(settings: Settings) -> AbstractAsyncContextManager[GraphAdapter]:
    """The graph adapter GRAPH_BACKEND selects (not opened yet)."""
    timeout = settings.stores.timeout_seconds
    kept_nodes = KEPT_NODES if settings.response_cache_max_bytes else 0  # loads are kept with the cache only
    if settings.graph_backend == "falkordb":
        f = settings.falkordb
        return FalkorGraph(
            url=f.url,
            graph=f.graph,
            max_connections=f.max_connections,
            timeout_seconds=timeout,
            history_retention=settings.stores.history_retention,
            kept_nodes=kept_nodes,
        )
    if settings.graph_backend == "neo4j":
        n = settings.neo4j
        password = n.password.get_secret_value() if n.password is not None else ""
        return Neo4jGraph(
            uri=n.uri,
            user=n.user,
            password=password,
            database=n.database,
            max_pool_size=n.max_pool_size,
            timeout_seconds=timeout,
            history_retention=settings.stores.history_retention,
            trusted_ca_file=n.trusted_ca_file,
            kept_nodes=kept_nodes,
        )
    return InMemoryGraph(history_retention=settings.stores.history_retention)


async def open_with_retry(
    stack: AsyncExitStack, resource: AbstractAsyncContextManager[T], what: str, settings: StoreSettings
) -> T:
    """Enter a store's context, retrying with backoff while it is unreachable, up to the start-up bound."""
    deadline = time.monotonic() + settings.startup_retry_seconds
    delay = 0.2
    while True:
        try:
            return await stack.enter_async_context(resource)
        except StoreMisconfigured as exc:
            raise StartupError(f"{what}: {exc}") from exc  # waiting cannot fix a setting
        except (StoreUnavailable, StoreTimeout) as exc:
            if time.monotonic() + delay > deadline:
                raise StartupError(
                    f"{what} is unreachable after {settings.startup_retry_seconds:g}s: {exc}"
                ) from exc
            log.warning("store_not_ready", store=what, retry_in_s=round(delay, 2))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def _key_value_store(
    settings: Settings, stack: AsyncExitStack, valkey: ValkeyClient | None
) -> KeyValueStore:
    backend = settings.kv_backend
    if backend == "valkey" and valkey is not None:
        return ValkeyKeyValueStore(client=valkey, prefix=settings.kv.key_prefix)
    if backend == "sqlite":
        sqlite = SqliteKeyValueStore(
            path=settings.kv.sqlite_path, timeout_seconds=settings.stores.timeout_seconds
        )
        return await stack.enter_async_context(sqlite)
    if backend == "cachetools":
        return CachetoolsKeyValueStore(max_entries=settings.kv.cache_max_entries)
    return InMemoryKeyValueStore()


async def _session_store(
    settings: Settings, stack: AsyncExitStack, valkey: ValkeyClient | None, *, outbox_here: bool
) -> SessionStore:
    """Sessions on Valkey when it is configured (blocking watch reads on a pool of their own), else memory.

    `outbox_here`: the outbox is the key-value store on the same Valkey, so a change can write its own
    outbox record.
    """
    s = settings.sessions
    idle_ms = int(s.idle_expiry_seconds * 1000)
    if valkey is None:
        return InMemorySessionStore(retention=s.log_retention, idle_ms=idle_ms)
    watch_settings = settings.valkey.model_copy(update={"max_connections": s.watch_max_connections})
    watch = ValkeyClient(settings=watch_settings, timeout_seconds=settings.stores.timeout_seconds)
    watch = await open_with_retry(stack, watch, "valkey (session watch)", settings.stores)
    return ValkeySessionStore(
        client=valkey,
        watch_client=watch,
        prefix=settings.kv.key_prefix + "ctx:",
        retention=s.log_retention,
        idle_ms=idle_ms,
        max_block_seconds=settings.stores.timeout_seconds / 2,
        record_prefix=settings.kv.key_prefix if outbox_here else None,
    )


async def _change_watch(
    settings: Settings,
    stack: AsyncExitStack,
    graph: GraphAdapter,
    planning: PlanningStore,
    responses: ResponseCache,
) -> ChangeWatch | None:
    """Pushed notice of changes to the cached reads' inputs, when the cache is on and both of their stores
    can give it."""
    if not settings.response_cache_tracking or not responses.enabled:
        return None
    if not isinstance(graph, FalkorGraph) or not isinstance(planning, ValkeyPlanningStore):
        return None
    read_models = planning.change_tracking()
    if read_models is None:
        return None
    graph_changes = await stack.enter_async_context(graph.change_tracking())
    return BothCaught(graph_changes, await stack.enter_async_context(read_models))


@asynccontextmanager
async def open_adapters(
    settings: Settings, *, publisher: EventPublisher | None = None
) -> AsyncIterator[Adapters]:
    """Open every store the settings select (retrying while they come up); close them in reverse order."""
    async with AsyncExitStack() as stack:
        graph = await open_with_retry(
            stack, graph_store(settings), f"graph store ({settings.graph_backend})", settings.stores
        )
        valkey = None
        if settings.uses_valkey:
            client = ValkeyClient(settings=settings.valkey, timeout_seconds=settings.stores.timeout_seconds)
            valkey = await open_with_retry(stack, client, "valkey", settings.stores)
        planning: PlanningStore = InMemoryPlanningStore()
        if valkey is not None and settings.graph_backend != "memory":
            planning = ValkeyPlanningStore(client=valkey)
        probes: list[HealthProbe] = [] if isinstance(graph, InMemoryGraph) else [graph]
        if valkey is not None:
            probes.append(valkey)
        kv = await _key_value_store(settings, stack, valkey)
        if isinstance(kv, SqliteKeyValueStore):
            probes.append(kv)
        clock = SystemClock()
        own_outbox = publisher is None and settings.nats.enabled
        outbox_here = own_outbox and isinstance(kv, ValkeyKeyValueStore)
        sessions = await _session_store(settings, stack, valkey, outbox_here=outbox_here)
        if publisher is None:  # with NATS: an outbox the messaging runtime relays; without: nowhere to go
            publisher = OutboxPublisher(kv=kv, clock=clock) if own_outbox else DiscardingEventPublisher()
        responses = LruResponseCache(settings.response_cache_max_bytes)
        yield Adapters(
            graph=graph,
            planning=planning,
            kv=kv,
            publisher=publisher,
            clock=clock,
            ids=RandomIds(),
            tokens=default_counter(),
            probes=tuple(probes),
            sessions=sessions,
            responses=responses,
            changes=await _change_watch(settings, stack, graph, planning, responses),
        )


@asynccontextmanager
async def build_container(settings: Settings) -> AsyncIterator[Container]:
    """Open the configured adapters (closed in reverse order on exit) and wire them."""
    policy = load_policy(settings.prompt_scopes_path)
    async with open_adapters(settings) as adapters:
        yield wire(adapters, policy, sessions=settings.sessions)


def grpc_server(
    settings: Settings, container: Container, *, traced: bool, reuse_port: bool = False
) -> GrpcServer:
    """The gRPC server with the interceptors, credentials and limits the settings ask for (`reuse_port`:
    one of the workers sharing the port)."""
    rpc = settings.grpc
    interceptors: list[grpc.aio.ServerInterceptor] = [MetricsInterceptor()]
    if traced:
        interceptors.append(TracingInterceptor())
    if rpc.auth_tokens_file is not None:
        interceptors.append(TokenAuthInterceptor(tokens=TokenFile(path=rpc.auth_tokens_file)))
    credentials = None
    if rpc.tls_cert_file is not None and rpc.tls_key_file is not None:
        credentials = server_credentials(
            cert_file=rpc.tls_cert_file, key_file=rpc.tls_key_file, client_ca_file=rpc.tls_client_ca_file
        )
    return GrpcServer(
        use_cases=container.use_cases,
        sessions=container.sessions,
        host=rpc.host,
        port=rpc.port,
        max_message_bytes=rpc.max_message_bytes,
        grace_seconds=rpc.shutdown_grace_seconds,
        interceptors=interceptors,
        credentials=credentials,
        max_concurrent_rpcs=rpc.max_concurrent_rpcs,
        reuse_port=reuse_port,
    )


# The cyclic collector's thresholds once serving: a young collection every 2,000 net allocations (default
# 700), an older one every 20 young ones, the full one after 100 of those (and only once the objects moved
# to the oldest generation since the last full one are a quarter of it). Every call leaves a few objects in
# a reference cycle inside grpc.aio (its handler lookup's closure), so the young generation is mostly that
# garbage: a young collection's pause grows with the threshold (50,000: up to 100 ms at 32 clients; 2,000:
# about 1 ms, and less collector time in all). Full collections, over the kept loads and answers, stay rare;
# with the defaults they ran after every few large-story loads (up to 86 ms each, 64 in 1,600 calls).
GC_THRESHOLDS = (2_000, 20, 100)


def settle_heap() -> None:
    """Exempt what start-up built (modules, stubs, pools, the policy) from the cyclic collector: a full
    collection over it paused every call in flight for 0.2 s on a loaded machine (GetHistory's p99). Then
    collect less often (`GC_THRESHOLDS`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


# How often a worker of `serve --workers N` writes its function-read gauges for the supervisor's /metrics.
GAUGE_SAMPLE_SECONDS = 1.0


async def _sample_gauges() -> None:
    sample_gauges()


@asynccontextmanager
async def running(
    settings: Settings,
    *,
    seed: Callable[[Container], Awaitable[None]] | None = None,
    worker: bool = False,
) -> AsyncIterator[GrpcServer]:
    """The whole service in the start-up order of the spec; leaving the block shuts it down in reverse.

    Settings → tracing and metrics → stores (retried while they come up; schema ensured) → use cases →
    gRPC → health SERVING once every dependency answers. A `worker` of `serve --workers N` shares the port
    and leaves /metrics to the supervisor (`context_service.workers`).
    """
    obs = settings.observability
    async with AsyncExitStack() as stack:
        stack.callback(flush_later_lines)  # last: the canonical lines of the calls served before the exit
        provider = await stack.enter_async_context(tracing(obs))
        count_tasks_of(asyncio.get_running_loop())
        stack.callback(count_tasks_of, None)
        if worker:
            sampler = Periodic(_sample_gauges, interval=GAUGE_SAMPLE_SECONDS, name="sampled-gauges")
            sampler.start()
            stack.push_async_callback(sampler.stop)
        else:
            metrics_port = obs.metrics_port if obs.metrics_enabled else None
            await stack.enter_async_context(MetricsServer(host=obs.metrics_host, port=metrics_port))
        container = await stack.enter_async_context(build_container(settings))
        if seed is not None:
            await seed(container)
        interval = settings.sessions.sweep_interval_seconds
        await stack.enter_async_context(SessionSweeper(sweep=container.sessions.sweep, interval=interval))
        messaging = await _messaging(stack, settings, container)
        server = grpc_server(settings, container, traced=provider is not None, reuse_port=worker)
        probes = (*container.adapters.probes, *((messaging.probe,) if messaging else ()))
        monitor = HealthMonitor(
            probes=probes,
            set_status=server.set_dependency,
            interval=settings.stores.health_interval_seconds,
            timeout=settings.stores.timeout_seconds,
        )
        await stack.enter_async_context(monitor)  # entered before the server, so it stops after it
        await stack.enter_async_context(server)
        if messaging is not None:
            await stack.enter_async_context(messaging.consumer_group())
        # Leaving runs in reverse: NOT_SERVING first, then consumers finish their messages, gRPC drains its
        # calls, NATS drains, the stores close.
        stack.push_async_callback(server.set_serving, False)
        settle_heap()
        yield server


async def _messaging(stack: AsyncExitStack, settings: Settings, container: Container) -> Messaging | None:
    """Connect to NATS and ensure the streams (consumers start later, after gRPC); None when disabled."""
    publisher = container.adapters.publisher
    if not settings.nats.enabled or not isinstance(publisher, OutboxPublisher):
        return None
    messaging = Messaging(
        settings=settings.nats,
        use_cases=container.use_cases,
        kv=container.adapters.kv,
        publisher=publisher,
        startup_timeout=settings.stores.startup_retry_seconds,
        start_consumers=False,
    )
    try:
        await stack.enter_async_context(messaging)
    except (StoreUnavailable, StoreTimeout) as exc:
        raise StartupError(f"NATS at {settings.nats.url} is unreachable: {exc}") from exc
    if messaging.stream_differences:
        log.warning("streams_differ", differences=messaging.stream_differences)
    return messaging
