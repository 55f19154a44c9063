"""The legacy layout reader and pruner over any Cypher engine adapter (FalkorDB, Neo4j).

A batch of stories is read in a fixed number of round trips (one per shape), never one per node: first by
story key, then by the plans and tasks found, then the edges among everything read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from context_service.adapters.cypher import legacy_queries as q
from context_service.adapters.cypher.graph import CypherGraph, Rows
from context_service.domain.legacy import LegacyEdge, LegacyOrphan, LegacyPlanning, LegacyStory, Shape
from context_service.domain.mutations import DECISION_RELATIONS

PRUNE_SLICE_SIZE = 5_000  # nodes per prune statement
DECISION_PATHS = ("story", "plan", "task")  # precedence when one decision is reached several ways


class CypherLegacyGraph:
    """LegacyGraphReader and LegacyGraphPruner on the engine behind `graph`."""

    def __init__(self, *, graph: CypherGraph, prune_slice: int = PRUNE_SLICE_SIZE) -> None:
        self._graph = graph
        self._slice = prune_slice

    async def _rows(self, text: str, operation: str, **params: Any) -> Rows:
        return await self._graph.read_rows(text, params, f"legacy_{operation}")

    async def prepare(self) -> None:
        """Index the legacy keys the reader looks nodes up by (idempotent; the indexes stay)."""
        for name, prop in q.INDEXED:
            await self._graph.create_index(name, prop, "legacy_index")

    async def story_keys(self) -> list[str]:
        """Every legacy story key, sorted."""
        rows = await self._rows(q.STORY_KEYS, "story_keys")
        return sorted({str(sid) for (sid,) in rows if sid not in (None, "")})

    async def planning(self) -> LegacyPlanning:
        """Legacy projects, epics and HAS_EPIC edges."""
        projects = await self._rows(q.PROJECTS, "projects")
        epics = await self._rows(q.EPICS, "epics")
        edges = await self._rows(q.HAS_EPIC, "has_epic")
        return LegacyPlanning(
            projects=tuple(p for (p,) in projects),
            epics=tuple(e for (e,) in epics),
            has_epic=tuple(_edge(row) for row in edges),
        )

    async def read_stories(self, keys: Sequence[str]) -> list[LegacyStory]:
        """Every legacy record of these stories."""
        batch = _Batch(keys)
        for shape, text in q.BY_STORY.items():
            batch.add_by_story(shape, await self._rows(text, shape.name.lower(), ids=list(keys)))
        plans = batch.owned(Shape.PLAN, "id", "plan_id")
        for shape, text in q.BY_PLAN.items():
            batch.add_by_ref(shape, plans, await self._rows(text, shape.name.lower(), plans=list(plans)))
        tasks = {**batch.owned(Shape.STORY_TASK, "task_id"), **batch.owned(Shape.PLAN_TASK, "task_id")}
        tasks |= batch.owned(Shape.SUBTASK, "id")
        batch.add_by_ref(
            Shape.DISPATCH, tasks, await self._rows(q.DISPATCHES, "dispatches", tasks=list(tasks))
        )
        found = await self._rows(
            q.DECISIONS, "decisions", ids=list(keys), plans=list(plans), tasks=list(tasks)
        )
        decisions = batch.add_decisions(found, {"story": {k: k for k in keys}, "plan": plans, "task": tasks})
        params = {"tasks": list(tasks), "decisions": list(decisions), "relations": sorted(DECISION_RELATIONS)}
        for shape, text in q.EDGES.items():
            owners = decisions if shape in (Shape.AFFECTS, Shape.DECISION_LINK, Shape.AUTHORED) else tasks
            end = 1 if shape is Shape.TASK_ORIGIN else 0
            batch.add_edges(shape, owners, end, await self._rows(text, shape.name.lower(), **params))
        return [batch.stories[k] for k in keys]

    async def orphans(self, keys: Sequence[str]) -> list[LegacyOrphan]:
        """Legacy nodes no story among `keys` claims."""
        rows = await self._rows(q.ORPHANS, "orphans", keys=list(keys))
        return sorted(
            (LegacyOrphan(Shape(shape), str(node_id), reason) for shape, node_id, reason in rows),
            key=lambda o: (o.shape.value, o.node_id),
        )

    async def prune(self) -> dict[str, int]:
        """Delete legacy-only nodes (slice by slice), then clear legacy-only properties of adopted nodes."""
        removed = {name: await self._repeat(match + q.PRUNE_SLICE) for name, match in q.PRUNE.items()}
        for label in q.LEGACY_PROPERTIES:
            removed[f"{label} (legacy properties)"] = await self._repeat(q.clear_properties(label))
        return {name: n for name, n in removed.items() if n}

    async def _repeat(self, text: str) -> int:
        total = 0
        while True:
            rows = await self._graph.write_rows(text, {"limit": self._slice}, "legacy_prune")
            done = int(rows[0][0]) if rows else 0
            total += done
            if done < self._slice:
                return total


def _edge(row: Sequence[Any]) -> LegacyEdge:
    src, dst, rel, props = row
    return LegacyEdge(str(src), str(dst), str(rel), dict(props or {}))


class _Batch:
    """Routes rows to the stories of one batch."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.stories = {k: LegacyStory(k) for k in keys}

    def _put(self, key: str, shape: Shape, props: dict[str, Any]) -> None:
        self.stories[key].nodes.setdefault(shape, []).append(props)

    def add_by_story(self, shape: Shape, rows: Rows) -> None:
        for sid, props in rows:
            if str(sid) in self.stories:
                self._put(str(sid), shape, dict(props))

    def add_by_ref(self, shape: Shape, owners: dict[str, str], rows: Rows) -> None:
        for ref, props in rows:
            if str(ref) in owners:
                # A subtask knows its plan only through HAS_SUBTASK; carry it as the task's plan_id.
                extra = {"plan_id": str(ref)} if shape is Shape.SUBTASK else {}
                self._put(owners[str(ref)], shape, {**extra, **dict(props)})

    def owned(self, shape: Shape, *id_keys: str) -> dict[str, str]:
        """Id -> story key of every record of `shape` read so far."""
        found: dict[str, str] = {}
        for key, story in self.stories.items():
            for props in story.of(shape):
                node_id = next((props[k] for k in id_keys if props.get(k) not in (None, "")), None)
                if node_id is not None:
                    found.setdefault(str(node_id), key)
        return found

    def add_decisions(self, rows: Rows, owners: dict[str, dict[str, str]]) -> dict[str, str]:
        """Each decision once, in the story of its strongest path; one with its own story key only there."""
        chosen: dict[str, tuple[int, str, dict[str, Any]]] = {}
        for ref, via, props in rows:
            own = props.get("story_id") or props.get("case_id")
            story = owners[via].get(str(ref))
            if story is None or (own and via != "story"):
                continue
            rank = DECISION_PATHS.index(via)
            did = str(props["id"])
            if did not in chosen or rank < chosen[did][0]:
                chosen[did] = (rank, story, dict(props))
        for _, story, props in chosen.values():
            self._put(story, Shape.DECISION, props)
        return {did: story for did, (_, story, _) in chosen.items()}

    def add_edges(self, shape: Shape, owners: dict[str, str], end: int, rows: Rows) -> None:
        for row in rows:
            edge = _edge(row)
            key = owners.get(edge.dst if end else edge.src)
            if key is not None:
                self.stories[key].edges.setdefault(shape, []).append(edge)
