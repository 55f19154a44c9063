"""History page tokens, the snapshot document codec, and the packaged schema agreeing with the code."""

from __future__ import annotations

import json

import pytest

from context_service.adapters.property_graph.archive import SNAPSHOT_RELATIONS
from context_service.adapters.snapshot_schema import JsonSchemaValidator, load_schema
from context_service.domain.errors import InvalidArgument
from context_service.domain.history_pages import decode_page_token, encode_page_token, page_size
from context_service.domain.model import ChangeRecord
from context_service.domain.snapshot import (
    CHANGE_FIELDS,
    SECTIONS,
    NodeRef,
    ReadModelEntry,
    StoredEdge,
    StoredNode,
    StorySnapshot,
    StorySubgraph,
    StreamEntry,
)
from context_service.domain.snapshot_checks import check_snapshot
from context_service.domain.snapshot_document import canonical_json, from_document, to_document, upgraded

STORY = "S-1"


def snapshot() -> StorySnapshot:
    """A small story: two tasks (given out of order), a dependency, a record and two read-models."""
    story = {"id": STORY, "story_id": STORY, "title": "Login — 東京", "context_version": 1}
    tasks = [StoredNode("Task", {"id": t, "story_id": STORY, "estimate": 1.5}) for t in ("T-2", "T-1")]
    edges = (
        StoredEdge("HAS_TASK", NodeRef("Story", STORY), NodeRef("Task", "T-2"), {}),
        StoredEdge("DEPENDS_ON", NodeRef("Task", "T-2"), NodeRef("Task", "T-1"), {}),
        StoredEdge("HAS_TASK", NodeRef("Story", STORY), NodeRef("Task", "T-1"), {"source": "planning"}),
    )
    record = ChangeRecord(
        1, "developer", "", "CREATE", "SUBTASK", "T-1", "split", "2026-11-01T00:00:00Z", seq=1
    )
    models = (
        ReadModelEntry(f"swe:case:{STORY}:summaries:last", "string", value="Half done."),
        ReadModelEntry(
            f"swe:case:{STORY}:planning:stream", "stream", entries=(StreamEntry("5-0", (("event", "x"),)),)
        ),
    )
    return StorySnapshot(StorySubgraph(story, tuple(tasks), edges, history=(record,)), models)


def test_a_page_token_resumes_below_the_seq_it_encodes() -> None:
    assert decode_page_token(encode_page_token(1234)) == 1234


@pytest.mark.parametrize("token", ["x", "c2VxOjA", "c2VxOmFiYw", "!!!"])
def test_a_token_this_service_did_not_issue_is_invalid_argument(token: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        decode_page_token(token)

    assert raised.value.field == "page_token"


@pytest.mark.parametrize(("requested", "size"), [(0, 50), (1, 1), (500, 500)])
def test_page_size_zero_is_fifty_and_the_maximum_is_five_hundred(requested: int, size: int) -> None:
    assert page_size(requested) == size


def test_the_document_lists_nodes_by_id_and_edges_by_type_and_ends() -> None:
    document = to_document(snapshot())

    assert [t["id"] for t in document["tasks"]] == ["T-1", "T-2"]
    assert [(e["type"], e["to"]["id"]) for e in document["edges"]] == [
        ("DEPENDS_ON", "T-1"),
        ("HAS_TASK", "T-1"),
        ("HAS_TASK", "T-2"),
    ]
    assert [m["key"].rsplit(":", 2)[-2:] for m in document["read_models"]] == [
        ["planning", "stream"],
        ["summaries", "last"],
    ]


def test_a_document_reads_back_as_the_snapshot_it_was_made_from() -> None:
    text = canonical_json(to_document(snapshot()))

    again = canonical_json(to_document(from_document(upgraded(json.loads(text)))))

    assert again == text


def test_the_canonical_text_keeps_unicode_and_has_no_spaces() -> None:
    text = canonical_json(to_document(snapshot()))

    assert "東京" in text
    assert ", " not in text
    assert ": " not in text.replace("Login — ", "")


def test_a_consistent_snapshot_passes_the_checks_and_the_schema() -> None:
    document = to_document(snapshot())

    check_snapshot(from_document(document))

    assert JsonSchemaValidator().problem(document) is None


def test_a_schema_refusal_gives_the_json_path_and_the_rule_broken() -> None:
    document = to_document(snapshot())
    document["tasks"][0]["title"] = None

    problem = JsonSchemaValidator().problem(document)

    assert problem is not None
    assert "$.tasks[0].title: None is not of type" in problem


def test_a_value_only_the_compiled_validator_refuses_is_named_by_its_path() -> None:
    document = to_document(snapshot())
    document["tasks"][1]["estimate"] = float("nan")

    problem = JsonSchemaValidator().problem(document)

    assert problem is not None
    assert "$.tasks[1].estimate" in problem


def test_the_schema_names_exactly_the_exported_labels_edge_types_and_record_fields() -> None:
    defs = load_schema()["$defs"]

    assert set(defs["ref"]["properties"]["label"]["enum"]) == {"Story", *SECTIONS}
    assert set(defs["edge"]["properties"]["type"]["enum"]) == set(SNAPSHOT_RELATIONS)
    assert set(defs["record"]["required"]) == set(CHANGE_FIELDS)
