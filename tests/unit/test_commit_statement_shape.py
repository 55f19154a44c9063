"""Every commit statement creates its nodes before it updates any node.

On FalkorDB the first node update after a node creation in a statement folds the pending label changes into
their matrix (milliseconds on a grown graph, whatever the rows); a creation between two updates pays it again.
"""

from __future__ import annotations

import re

import pytest

from context_service.adapters.cypher.inventory import SHARED, Statement, statements

# A clause that creates a node: MERGE or CREATE of a labelled node pattern (edges are not counted: creating
# an edge leaves the node-label matrix alone).
NODE_CREATION = re.compile(r"\b(MERGE|CREATE) \(\w+:\w+")
# A clause that updates a node's properties (`e`: the edges of task origins, not nodes).
NODE_UPDATE = re.compile(r"\bSET (?!e\b|e\.)\w+( \+=|\.)")


def _commits() -> list[Statement]:
    return [s for s in statements() if s.dialect == SHARED and "RETURN coalesce(s.context_version" in s.text]


def test_the_inventory_holds_commit_statements() -> None:
    # Arrange / Act
    commits = _commits()

    # Assert
    assert len(commits) >= 5


@pytest.mark.parametrize("statement", _commits(), ids=lambda s: s.name)
def test_a_commit_statement_updates_nodes_only_after_its_last_node_creation(statement: Statement) -> None:
    # Arrange
    lines = statement.text.splitlines()

    # Act
    created = [i for i, line in enumerate(lines) if NODE_CREATION.search(line)]
    updated = [i for i, line in enumerate(lines) if NODE_UPDATE.search(line)]

    # Assert
    assert updated, statement.text
    assert not created or max(created) < min(updated), statement.text
