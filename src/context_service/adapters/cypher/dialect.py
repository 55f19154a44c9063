"""The few places FalkorDB and Neo4j need different Cypher: schema statements and write locking.

Everything else (reads, MERGE writes, traversals) is the shared catalogue; times and ids are computed by the
service, so no engine-specific time or id functions are used anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from context_service.adapters.cypher.catalogue import CHANGE_INDEX, CHANGE_LABEL, REVISION, SCHEMA_LABELS

# Indexes beyond each label's `id`, created alike on every engine: history pages by story and seq.
INDEXES: tuple[tuple[str, tuple[str, ...]], ...] = ((CHANGE_LABEL, CHANGE_INDEX),)


@dataclass(frozen=True)
class Dialect:
    """Engine-specific statements."""

    name: str
    schema: tuple[str, ...]
    # Run first in a commit's transaction: takes the story's write lock so the preflight reads are stable.
    lock_story: str | None = None
    # An index on one property of one label ({label}, {prop}); creating it twice must be harmless.
    index: str = "CREATE INDEX FOR (n:{label}) ON (n.{prop})"


def _on(props: tuple[str, ...]) -> str:
    return ", ".join(f"n.{prop}" for prop in props)


FALKORDB = Dialect(
    name="falkordb",
    # Uniqueness constraints are created through GRAPH.CONSTRAINT (not Cypher) once these indexes exist.
    schema=(
        *(f"CREATE INDEX FOR (n:{label}) ON (n.id)" for label in SCHEMA_LABELS),
        *(f"CREATE INDEX FOR (n:{label}) ON ({_on(props)})" for label, props in INDEXES),
    ),
)

NEO4J = Dialect(
    name="neo4j",
    schema=(
        *(
            f"CREATE CONSTRAINT ctx_{label.lower()}_id IF NOT EXISTS FOR (n:{label}) REQUIRE n.id IS UNIQUE"
            for label in SCHEMA_LABELS
        ),
        *(
            f"CREATE INDEX ctx_{label.lower()}_{'_'.join(props)} IF NOT EXISTS "
            f"FOR (n:{label}) ON ({_on(props)})"
            for label, props in INDEXES
        ),
    ),
    # Read-committed isolation: without the lock two transactions could both pass the revision check.
    lock_story=f"MATCH (s:Story {{id: $story}}) SET s.{REVISION} = coalesce(s.{REVISION}, 0)",
    index="CREATE INDEX ctx_{label}_{prop} IF NOT EXISTS FOR (n:{label}) ON (n.{prop})",
)
