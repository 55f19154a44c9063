"""The `make lint` Cypher check: Neo4j's own Cypher 5 front end fails a broken or deprecated statement."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from context_service.adapters.cypher import legacy_queries as legacy
from context_service.adapters.cypher.dialect import FALKORDB, NEO4J
from context_service.adapters.cypher.inventory import schema, statements

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "tools" / "cypher-lint" / "check.mjs"
INSTALLED = ROOT / "tools" / "cypher-lint" / "node_modules" / ".installed"


def check(*entries: dict[str, object]) -> subprocess.CompletedProcess[str]:
    """Run the checker over these statements."""
    if shutil.which("node") is None or not INSTALLED.exists():
        pytest.skip("the Cypher front end is not installed: run `make cypher-lint` once")
    document = json.dumps({**schema(), "statements": list(entries)})
    return subprocess.run(
        ["node", str(CHECK), "-"], input=document, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_inventory_covers_every_dialect_branch_and_commit_shape() -> None:
    found = statements()

    assert {s.dialect for s in found} == {"shared", "neo4j", "falkordb"}
    assert sum(s.name.startswith("commit ") for s in found) >= 10


def test_the_inventory_holds_every_legacy_statement_and_the_grouped_commit() -> None:
    texts = {s.text for s in statements()}
    legacy_reads = [
        legacy.STORY_KEYS, legacy.PROJECTS, legacy.EPICS, legacy.HAS_EPIC, legacy.DISPATCHES,
        legacy.DECISIONS, legacy.ORPHANS, *legacy.BY_STORY.values(), *legacy.BY_PLAN.values(),
        *legacy.EDGES.values(),
    ]  # fmt: skip
    prunes = [match + legacy.PRUNE_SLICE for match in legacy.PRUNE.values()]
    clears = [legacy.clear_properties(label) for label in legacy.LEGACY_PROPERTIES]
    indexes = [d.index.format(label=lb, prop=pr) for d in (NEO4J, FALKORDB) for lb, pr in legacy.INDEXED]

    assert [t for t in (*legacy_reads, *prunes, *clears, *indexes) if t not in texts] == []
    assert any(s.name.startswith("commit ") and "UNWIND $g_l" in s.text for s in statements())


def test_a_broken_and_a_deprecated_statement_fail_the_check_and_a_sound_one_passes() -> None:
    broken = {
        "name": "broken",
        "dialect": "shared",
        "text": "MATCH (s:Story {id: $id}) RETURN s ORDER",
        "params": {"id": 1},
    }
    deprecated = {
        "name": "deprecated",
        "dialect": "shared",
        "text": "MATCH (s:Story) RETURN id(s)",
        "params": {},
    }
    sound = {
        "name": "sound",
        "dialect": "shared",
        "text": "MATCH (s:Story {id: $id}) RETURN s",
        "params": {"id": 1},
    }

    done = check(broken, deprecated, sound)

    assert (done.returncode, "broken [shared]" in done.stderr, "deprecated [shared]" in done.stderr) == (
        1,
        True,
        True,
    )
    assert "sound [shared]" not in done.stderr
