"""Every graph port over Cypher, for any engine that can run a statement (FalkorDB and Neo4j subclass it).

Reads rebuild a small property graph from one query's rows and project it with the same code as the
in-memory store, so every backend serves byte-identical snapshots.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple, TypeVar

from context_service.adapters.cypher import catalogue as q
from context_service.adapters.cypher.archive import (
    EXPORT_STORY,
    export_params,
    import_statement,
    listed_change,
    read_export,
    rows_graph,
)
from context_service.adapters.cypher.commit import commit_id, plan_commit, preflight_query, read_preflight
from context_service.adapters.cypher.dialect import Dialect
from context_service.adapters.cypher.kept_loads import KEPT_NODES, KeptLoads
from context_service.adapters.cypher.outcome import Attempt, read_outcome
from context_service.adapters.property_graph.advance import advanced
from context_service.adapters.property_graph.archive import subgraph_of
from context_service.adapters.property_graph.store import Edge, NodeKey, PropertyGraph, public
from context_service.adapters.property_graph.views import neighbourhood_of, story_of, story_projection
from context_service.domain.history_pages import DEFAULT_RETENTION
from context_service.domain.model import ChangeRecord, Located, Neighbourhood, Story, StoryGraph
from context_service.domain.mutations import HISTORY_SEQ, CommitResult, NodeKind, WriteBatch
from context_service.domain.snapshot import StorySubgraph
from context_service.observability.metrics import store_call
from context_service.ports.errors import (
    CommitOutcomeUnknown,
    OwnershipConflict,
    PortError,
    StoreTimeout,
    StoreUnavailable,
    StoryExists,
)
from context_service.ports.graph import NO_REVISION

Rows = list[list[Any]]
Execute = Callable[[str, q.Params], Awaitable[Rows]]
T = TypeVar("T")
COMMIT_ATTEMPTS = 30


class _Landed(NamedTuple):
    """What a commit that wrote left: the story's last history seq, and the nodes its preflight found."""

    seq: int
    existed: frozenset[NodeKey]


class _Contended(Exception):
    """The story changed between the preflight and the write; run the commit again."""


class CypherGraph:
    """Graph ports on top of `_read` and `_write` that an engine adapter provides."""

    backend = "cypher"
    engine = "the graph store"
    # The engine's driver exceptions, translated once in `_guarded` (timeouts before unavailability).
    timeout_errors: tuple[type[BaseException], ...] = ()
    unavailable_errors: tuple[type[BaseException], ...] = ()
    rejected_errors: tuple[type[BaseException], ...] = ()

    def __init__(
        self,
        *,
        dialect: Dialect,
        timeout_seconds: float,
        history_retention: int = DEFAULT_RETENTION,
        kept_nodes: int = KEPT_NODES,
    ) -> None:
        self.dialect = dialect
        self._timeout = timeout_seconds
        self._retention = history_retention
        self._story_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._loads = KeptLoads(max_nodes=kept_nodes)  # 0: none kept, every read loads its story
        self._committing: dict[str, asyncio.Event] = {}  # story id -> set when its commit here has ended

    def _story_lock(self, story_id: str) -> asyncio.Lock:
        """Writers of one story in this process queue here instead of contending in the engine."""
        # Held only while a writer holds it: the weak dictionary drops the locks of idle stories.
        return self._story_locks.setdefault(story_id, asyncio.Lock())

    async def _guarded(
        self, operation: str, call: Callable[[], Awaitable[T]], *, budget: float | None = None
    ) -> T:
        """One store call: timed, bounded by `budget` (the store timeout), driver errors made port errors."""
        async with store_call(self.backend, operation):
            try:
                async with asyncio.timeout(budget or self._timeout):
                    return await call()
            except TimeoutError as exc:
                where = {"backend": self.backend, "operation": operation}
                raise StoreTimeout(f"{self.engine} did not answer in time", **where) from exc
            except Exception as exc:
                error = self._translate(exc, operation)
                if error is None:
                    raise
                raise error from exc

    def _translate(self, exc: BaseException, operation: str) -> PortError | None:
        """The port error for a driver exception (None: not the driver's); engines may override."""
        where = {"backend": self.backend, "operation": operation}
        if isinstance(exc, self.timeout_errors):
            return StoreTimeout(f"{self.engine} did not answer in time", **where)
        if isinstance(exc, self.unavailable_errors):
            return StoreUnavailable(f"{self.engine} is unavailable", **where)
        if isinstance(exc, self.rejected_errors):
            return PortError(f"{self.engine} rejected {operation}", **where)
        return None

    async def _read(self, query: str, params: q.Params, operation: str) -> Rows:
        """Run a read statement (engine adapters run it through `_guarded`)."""
        raise NotImplementedError

    async def _write(self, work: Callable[[Execute], Awaitable[T]], operation: str) -> T:
        """Run `work` with a statement runner inside one write unit (a transaction if the engine has one)."""
        raise NotImplementedError

    async def read_rows(self, query: str, params: q.Params, operation: str) -> Rows:
        """One read statement from another catalogue of this package (the legacy layout reader)."""
        return await self._read(query, params, operation)

    async def write_rows(self, query: str, params: q.Params, operation: str) -> Rows:
        """One write statement from another catalogue of this package (the legacy layout pruner)."""
        return await self._write(lambda run: run(query, params), operation)

    async def create_index(self, label: str, prop: str, operation: str) -> None:
        """An index on one property of one label; creating it again changes nothing."""
        await self.write_rows(self.dialect.index.format(label=label, prop=prop), {}, operation)

    async def get_story(self, story_id: str) -> Story | None:
        """The story node, or None."""
        rows = await self._read(q.GET_STORY, {"id": story_id}, "get_story")
        return story_of(rows[0][0]) if rows else None

    async def load_story_graph(self, story_id: str) -> StoryGraph | None:
        """The story's live neighbourhood, in one round trip."""
        return (await self.load_if_changed(story_id, NO_REVISION))[1]

    async def load_if_changed(self, story_id: str, seen: int) -> tuple[int | None, StoryGraph | None]:
        """The story's content revision, and its live neighbourhood unless the revision is `seen`.

        With a load of the story kept here (read before, or carried over this store's own commit), the engine
        is asked whether the story is still at that load's revision, and then only sends the story row. While
        a commit of the story runs here, the question waits for it: the commit carries the load forward."""
        committing = self._committing.get(story_id)
        if committing is not None and self._loads.get(story_id) is not None:
            # The commit will carry the kept load, and the engine, asked now, would most likely answer past
            # the revision asked with and send the whole story: wait for that commit (not for the writers
            # queued behind it), at most the store timeout.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._timeout):
                    await committing.wait()
        kept = self._loads.get(story_id)
        asked = seen if kept is None else kept.revision
        rows = await self._read(q.LOAD_STORY, q.story_params(story_id, asked), "load_story")
        if not rows:
            self._loads.drop(story_id)
            return None, None
        story: dict[str, Any] = next(dict(row[-1]) for row in rows if row[0] == q.STORY_PART)
        revision = int(story.get(q.REVISION) or 0)
        if revision == seen:
            return revision, None
        # A load held here at the engine's revision or past it is the answer: the one kept when asked (the
        # story has not moved), or one a commit here carried forward while the engine answered (a busy
        # story's writers). Revisions only grow, also over a story's replacement, so an older load never
        # displaces a newer kept one.
        for held in (self._loads.get(story_id), kept):
            if held is not None and held.revision >= revision:
                return held.revision, None if held.revision == seen else held.projection.story
        graph = _loaded(story_id, story, rows)
        projection = story_projection(graph, story_id)
        if projection is not None and projection.story.cacheable:
            self._loads.keep(story_id, revision, graph, projection)
        else:
            self._loads.drop(story_id)
        return revision, None if projection is None else projection.story

    async def locate(self, nodes: Iterable[tuple[NodeKind, str]]) -> Mapping[tuple[NodeKind, str], Located]:
        """(kind, id) -> owning story and status, for existing nodes; one round trip."""
        ids: dict[str, list[str]] = {}
        for kind, node_id in nodes:
            ids.setdefault(kind.value, []).append(node_id)
        if not ids:
            return {}
        text, params = q.locate(ids)
        rows = await self._read(text, params, "locate")
        return {
            (NodeKind(label), str(node_id)): Located(str(owner or ""), str(status or ""))
            for label, node_id, owner, status, _plan, _extra, _props, _near in rows
        }

    async def neighbourhood(self, label: str, node_id: str, depth: int, limit: int) -> Neighbourhood | None:
        """The nearest nodes from the engine, then the same bounded walk as the memory store over them."""
        if label not in q.NODE_LABELS:
            return None
        params = q.neighbourhood_params(node_id, limit)
        rows = await self._read(q.neighbourhood(label, depth), params, "neighbourhood")
        if not rows:
            return None
        graph = rows_graph((a_label, a_props, out) for a_label, a_props, _capped, out in rows)
        capped = any(was_capped for _label, _props, was_capped, _out in rows)
        found = neighbourhood_of(graph, (label, node_id), depth, limit)
        if found is not None and capped and not found.truncated:
            found = Neighbourhood(found.node, found.neighbours, found.links, truncated=True)
        return found

    async def history(
        self, story_id: str, *, entity_id: str = "", limit: int = 100, before_seq: int = 0
    ) -> list[ChangeRecord]:
        """Change records newest first, optionally one entity's, optionally below a seq."""
        if entity_id:  # one entity's records are sparse among the story's: no seq window would hold a page
            return await self._history_below(story_id, entity_id, limit, before_seq)
        params = {"id": story_id, "before": before_seq, "limit": limit}
        rows = await self._read(q.RECENT_HISTORY, params, "history")
        if not rows:
            return []
        floor, listed = rows[0]
        recent = sorted((listed_change(values) for values in listed), key=lambda r: r.seq, reverse=True)
        if floor is not None and (len(recent) >= limit or floor <= 1):
            return recent
        # A gap in the window (trimmed or imported seqs), or a story without a seq counter: read on below.
        return recent + await self._history_below(story_id, "", limit - len(recent), floor or before_seq)

    async def _history_below(
        self, story_id: str, entity_id: str, limit: int, before_seq: int
    ) -> list[ChangeRecord]:
        params = {"id": story_id, "before": before_seq, "entity": entity_id, "limit": limit}
        rows = await self._read(q.HISTORY, params, "history")
        return [listed_change(row[0]) for row in rows]

    async def export_story(self, story_id: str) -> StorySubgraph | None:
        """The story's whole stored subgraph and history, in one read statement."""
        rows = await self._read(EXPORT_STORY, export_params(story_id), "export_story")
        graph, history = read_export(rows)
        return subgraph_of(graph, story_id, history)

    async def import_story(self, subgraph: StorySubgraph, *, replace: bool) -> None:
        """Swap the story's subgraph for the snapshot's in one write statement (one transaction)."""
        async with self._story_lock(subgraph.story_id):
            await self._write(lambda run: self._import_once(run, subgraph, replace), "import_story")

    async def _import_once(self, run: Execute, subgraph: StorySubgraph, replace: bool) -> None:
        ids: dict[str, list[str]] = {NodeKind.STORY.value: [subgraph.story_id]}
        for node in subgraph.nodes:
            ids.setdefault(node.label, []).append(node.ref.node_id)
        text, params = q.locate(ids)
        for label, node_id, owner, *_ in await run(text, params):
            if label == NodeKind.STORY.value and not replace:
                raise StoryExists(str(node_id))
            if owner is not None and str(owner) != subgraph.story_id:
                raise OwnershipConflict(label, str(node_id), str(owner))
        text, params = import_statement(subgraph, replace=replace)
        if not await run(text, params):  # the story appeared since the check above
            raise StoryExists(subgraph.story_id)

    async def committed(self, story_id: str, request_id: str) -> CommitResult | None:
        """The commit record of an applied request, or None; one round trip."""
        text, params = preflight_query(WriteBatch(story_id, (), request_id=request_id))
        known = read_preflight(await self._read(text, params, "committed"))
        return known.story.replay if known.story is not None else None

    async def commit(self, batch: WriteBatch) -> CommitResult:
        """Apply the whole batch in one statement or nothing; retried while another writer wins the story."""
        async with self._story_lock(batch.story_id):
            self._committing[batch.story_id] = committed = asyncio.Event()
            try:
                return await self._commit_now(batch)
            finally:  # still under the lock: no other commit of the story has replaced the entry
                committed.set()
                del self._committing[batch.story_id]

    async def _commit_now(self, batch: WriteBatch) -> CommitResult:
        for attempt_no in range(COMMIT_ATTEMPTS):
            attempt = Attempt(uuid.uuid4().hex)
            try:
                result, landed = await self._write(
                    partial(self._commit_once, batch=batch, attempt=attempt), "commit"
                )
            except _Contended:
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt_no + 1)))  # jitter only
            except CommitOutcomeUnknown:
                self._loads.drop(batch.story_id)
                outcome = await self._outcome(batch, attempt)
                if outcome is not None:
                    return outcome
            else:
                if landed is not None:
                    self._carry(batch, attempt, result, landed)
                return result
        raise StoreUnavailable("the story is being written too often; retry", backend=self.backend)

    def _carry(self, batch: WriteBatch, attempt: Attempt, result: CommitResult, landed: _Landed) -> None:
        """Carry the story's kept load over this commit, once it is committed; drop it when that cannot be."""
        kept = self._loads.get(batch.story_id)
        if kept is None or kept.revision != attempt.revision:  # the preflight saw another revision
            self._loads.drop(batch.story_id)
            return
        stamped: dict[str, Any] = {q.REVISION: attempt.revision + 1, q.LAST_ATTEMPT: attempt.id}
        if batch.bump_version:
            stamped["context_version"] = result.version
        if landed.seq:
            stamped[HISTORY_SEQ] = landed.seq
        carried = advanced(kept.graph, kept.projection, batch, stamped, landed.existed)
        if carried is None or not carried.projection.story.cacheable:
            self._loads.drop(batch.story_id)
        else:
            self._loads.keep(batch.story_id, attempt.revision + 1, *carried)

    async def _outcome(self, batch: WriteBatch, attempt: Attempt) -> CommitResult | None:
        """Whether a commit whose acknowledgement was lost landed (None: it did not, run it again)."""
        if not batch.story_id:
            return None  # MERGE upserts of nodes outside any story: running them again changes nothing
        params = {"story": batch.story_id, "commit": commit_id(batch)}
        rows = await self._write(lambda run: run(q.COMMIT_OUTCOME, params), "commit_outcome")
        return read_outcome(rows, batch, attempt)

    async def _commit_once(
        self, run: Execute, *, batch: WriteBatch, attempt: Attempt
    ) -> tuple[CommitResult, _Landed | None]:
        """The commit's result, and what it found and left (None: a replay wrote nothing)."""
        if self.dialect.lock_story and batch.story_id:
            await run(self.dialect.lock_story, {"story": batch.story_id})
        text, params = preflight_query(batch)
        known = read_preflight(await run(text, params) if text else [])
        if batch.request_id and known.story is not None and known.story.replay is not None:
            return known.story.replay, None
        text, params = plan_commit(batch, known, attempt)
        rows: Sequence[Sequence[Any]] = await run(text, params)
        if not rows:
            raise _Contended
        version, phase, *seq = rows[0]  # seq: the story's last history seq after the write
        last_seq = int(seq[0]) if seq else 0
        before = (known.story.props or {}).get(HISTORY_SEQ, 0) if known.story is not None else 0
        if last_seq > max(self._retention, int(before)):  # records were added beyond the retention
            await self._trim(run, batch.story_id, last_seq)
        result = CommitResult(int(version), str(phase), changed=batch.changed, event_key=batch.event_key)
        return result, _Landed(last_seq, frozenset(known.nodes))

    async def _trim(self, run: Execute, story_id: str, last_seq: int) -> None:
        """Retention, right after the write (in its transaction where the engine has one)."""
        await run(q.TRIM_HISTORY, {"id": story_id, "cut": last_seq - self._retention})


def _loaded(story_id: str, story: dict[str, Any], rows: Rows) -> PropertyGraph:
    """The property graph of a story's load from the rows of LOAD_STORY."""
    graph = PropertyGraph()
    # With its content revision, which only story_of reads.
    graph.nodes[(NodeKind.STORY.value, story_id)] = story
    for part, rel_type, from_label, from_id, to_label, to_id, edge, node in rows:
        if part == q.STORY_PART:
            continue
        start: NodeKey = (from_label, str(from_id))
        end: NodeKey = (to_label, str(to_id))
        if node is not None:  # None: a node of this story, which arrives as a child itself
            graph.nodes.setdefault(start if part == q.INCOMING_PART else end, public(node))
        key = Edge(start, rel_type, end)
        # Two parallel edges of one type (a MERGE with properties can add one) read as one, as in the
        # memory store: their properties merged, whichever order the engine returns them in.
        graph.put_edge(key, {**graph.edges.get(key, {}), **public(edge)})
    return graph
