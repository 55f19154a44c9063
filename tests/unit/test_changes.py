"""Unit tests for UpdateContext change validation: ChangePlanner + plan_change -> Mutation or rejection."""

from __future__ import annotations

import json

import pytest

from context_service.domain.changes import (
    ChangePlanner,
    ChangeRejected,
    EntityType,
    Operation,
    PlannedChange,
    RawChange,
    plan_change,
)
from context_service.domain.model import Decision, Milestone, PlanVersion, Story, StoryGraph, Task
from context_service.domain.mutations import Link, LinkKind, NodeKind
from context_service.domain.policy import ScopePolicy, policy_from_document

STORY_ID = "S-1"
NOW_MS = 1_793_534_400_000
NOW_ISO = "2026-11-01T12:00:00.000Z"

POLICY: ScopePolicy = policy_from_document(
    {
        "phases": {
            "BUILD": {
                "architect": ["CASE_HEADER"],
                "developer": ["CASE_HEADER"],
                "qa": ["CASE_HEADER"],
                "devops": ["CASE_HEADER"],
            }
        }
    }
)


def story_graph() -> StoryGraph:
    """A story with two tasks, two decisions, one milestone and one plan version."""
    return StoryGraph(
        story=Story(STORY_ID, "Checkout flow"),
        tasks=(
            Task("T-1", STORY_ID, "Wire the payment port", role="developer"),
            Task("T-2", STORY_ID, "Test checkout", role="qa", dependencies=("T-1",)),
        ),
        decisions=(Decision("D-1", STORY_ID, "Use Stripe"), Decision("D-2", STORY_ID, "Use webhooks")),
        milestones=(Milestone("milestone", "Kick-off", NOW_MS - 1000, milestone_id="M-1"),),
        plans=(PlanVersion("P-1", STORY_ID),),
    )


def planner(foreign: dict[tuple[NodeKind, str], str] | None = None) -> ChangePlanner:
    """A fresh planner over the standard story graph."""
    return ChangePlanner(story_graph(), NOW_MS, NOW_ISO, POLICY.normalise_role, foreign or {})


def change(op: str, entity_type: str, entity_id: str, payload: object = None, reason: str = "") -> RawChange:
    """A raw change; a non-string payload is JSON-encoded."""
    text = payload if isinstance(payload, str) else ("" if payload is None else json.dumps(payload))
    return RawChange(operation=op, entity_type=entity_type, entity_id=entity_id, payload=text, reason=reason)


def plan(raw: RawChange, p: ChangePlanner | None = None) -> PlannedChange:
    """Plan one change against a fresh (or the given) planner."""
    return plan_change(p or planner(), raw)


def rejection(raw: RawChange, p: ChangePlanner | None = None) -> str:
    """The reason a change is rejected."""
    with pytest.raises(ChangeRejected) as caught:
        plan_change(p or planner(), raw)
    return str(caught.value)


# --- CREATE per entity type -------------------------------------------------------------------------

CREATES = [
    pytest.param("DECISION", "D-9", {"title": "Use Postgres"}, NodeKind.DECISION, id="decision"),
    pytest.param("SUBTASK", "T-9", {"title": "Add index"}, NodeKind.TASK, id="subtask"),
    pytest.param("MILESTONE", "M-9", {"event_type": "demo"}, NodeKind.MILESTONE, id="milestone"),
    pytest.param("PLAN", "P-9", {"version": 3}, NodeKind.PLAN, id="plan"),
    pytest.param("CASE", STORY_ID, {"title": "Checkout v2"}, NodeKind.STORY, id="case"),
]


@pytest.mark.parametrize(("entity_type", "entity_id", "payload", "kind"), CREATES)
def test_create_of_each_entity_type_becomes_a_mutation_of_its_node_kind(
    entity_type: str, entity_id: str, payload: dict[str, object], kind: NodeKind
) -> None:
    # Act
    planned = plan(change("CREATE", entity_type, entity_id, payload))

    # Assert
    assert (planned.operation, planned.mutation.kind, planned.mutation.node_id) == (
        Operation.CREATE,
        kind,
        entity_id,
    )


def test_created_decision_carries_payload_fields_and_create_defaults() -> None:
    # Arrange
    payload = {"title": "Use Postgres", "rationale": "ACID", "type": "arch", "metadata": {"k": 1}}

    # Act
    mutation = plan(change("CREATE", "DECISION", "D-9", payload)).mutation

    # Assert: a new entity SETs its defaults too, so a soft-deleted one with the same id comes back live
    assert {k: mutation.fields[k] for k in ("title", "rationale", "decision_type", "metadata")} == {
        "title": "Use Postgres",
        "rationale": "ACID",
        "decision_type": "ARCH",
        "metadata": '{"k": "1"}',
    }
    assert mutation.fields["story_id"] == STORY_ID
    assert mutation.fields["status"] == "PROPOSED"
    assert mutation.fields["decided_by"] == "UNKNOWN"
    assert mutation.fields["created_at_ms"] == NOW_MS


def test_created_decision_links_the_tasks_it_influences_as_incoming_edges() -> None:
    # Act
    mutation = plan(change("CREATE", "DECISION", "D-9", {"title": "x", "task_ids": "T-1, T-2"})).mutation

    # Assert
    assert mutation.links == (
        Link(LinkKind.INFLUENCED_BY, NodeKind.TASK, "T-1", incoming=True),
        Link(LinkKind.INFLUENCED_BY, NodeKind.TASK, "T-2", incoming=True),
    )


@pytest.mark.parametrize(
    ("payload", "link"),
    [
        ({"depends_on": ["D-1"]}, Link(LinkKind.DEPENDS_ON, NodeKind.DECISION, "D-1")),
        ({"supersedes": "D-2"}, Link(LinkKind.SUPERSEDES, NodeKind.DECISION, "D-2")),
        ({"relations": [{"to": "D-1", "type": "governs"}]}, Link(LinkKind.GOVERNS, NodeKind.DECISION, "D-1")),
        (
            {"relations": [{"to": "D-2", "type": "RELATES_TO"}]},
            Link(LinkKind.RELATES_TO, NodeKind.DECISION, "D-2"),
        ),
    ],
)
def test_created_decision_links_other_decisions_of_the_story(payload: dict[str, object], link: Link) -> None:
    # Act
    mutation = plan(change("CREATE", "DECISION", "D-9", {"title": "x", **payload})).mutation

    # Assert
    assert mutation.links == (link,)


def test_created_task_is_pending_with_a_normalised_role_and_its_dependencies() -> None:
    # Arrange
    payload = {"title": "Add index", "role": " DEV ", "priority": "2", "dependencies": ["T-1", "T-2"]}

    # Act
    mutation = plan(change("CREATE", "SUBTASK", "T-9", payload)).mutation

    # Assert
    assert mutation.on_create["status"] == "PENDING"
    assert mutation.fields["role"] == "developer"
    assert mutation.fields["priority"] == 2
    assert mutation.links == (
        Link(LinkKind.DEPENDS_ON, NodeKind.TASK, "T-1"),
        Link(LinkKind.DEPENDS_ON, NodeKind.TASK, "T-2"),
    )
    assert mutation.replace_links == (LinkKind.DEPENDS_ON,)


def test_task_without_dependency_keys_keeps_its_existing_dependency_edges() -> None:
    # Act
    mutation = plan(change("UPDATE", "SUBTASK", "T-2", {"status": "done"})).mutation

    # Assert
    assert (mutation.links, mutation.replace_links) == ((), ())


def test_task_origin_metadata_becomes_the_plan_edge() -> None:
    # Arrange
    payload = {"title": "x", "decided_by": "council", "decision_reason": "risk", "source": "planning"}

    # Act
    mutation = plan(change("CREATE", "SUBTASK", "T-9", payload)).mutation

    # Assert
    assert mutation.plan_edge == {"decided_by": "council", "decision_reason": "risk", "source": "planning"}


def test_created_milestone_defaults_its_time_to_now() -> None:
    # Act
    mutation = plan(change("CREATE", "MILESTONE", "M-9", {"description": "demo"})).mutation

    # Assert
    assert mutation.fields["ts_ms"] == NOW_MS


def test_milestone_timestamp_is_parsed_from_iso_8601() -> None:
    # Act
    mutation = plan(change("CREATE", "MILESTONE", "M-9", {"timestamp": "2026-01-02T03:04:05Z"})).mutation

    # Assert
    assert mutation.fields["ts_ms"] == 1_767_323_045_000


def test_created_plan_defaults_to_a_draft_first_version() -> None:
    # Act
    mutation = plan(change("CREATE", "PLAN", "P-9", {})).mutation

    # Assert
    assert (mutation.on_create["version"], mutation.on_create["status"]) == (1, "DRAFT")


def test_case_change_updates_the_story_itself() -> None:
    # Act
    mutation = plan(change("UPDATE", "CASE", STORY_ID, {"title": "v2", "status": "blocked"})).mutation

    # Assert
    assert dict(mutation.fields) == {"updated_at": NOW_ISO, "title": "v2", "status": "BLOCKED"}


# --- operations and aliases -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity_type", "entity_id", "payload"),
    [
        ("DECISION", "D-1", {"status": "accepted"}),
        ("SUBTASK", "T-1", {"status": "in_progress"}),
        ("MILESTONE", "M-1", {"description": "moved"}),
        ("PLAN", "P-1", {"status": "approved"}),
        ("CASE", STORY_ID, {"description": "more"}),
    ],
)
def test_update_of_an_existing_entity_needs_no_title(
    entity_type: str, entity_id: str, payload: dict[str, object]
) -> None:
    # Act
    planned = plan(change("UPDATE", entity_type, entity_id, payload))

    # Assert
    assert (planned.operation, planned.entity_id) == (Operation.UPDATE, entity_id)


@pytest.mark.parametrize(
    ("entity_type", "entity_id", "kind"),
    [
        ("DECISION", "D-1", NodeKind.DECISION),
        ("SUBTASK", "T-1", NodeKind.TASK),
        ("MILESTONE", "M-1", NodeKind.MILESTONE),
        ("PLAN", "P-1", NodeKind.PLAN),
    ],
)
def test_delete_is_a_soft_delete_setting_status_deleted(
    entity_type: str, entity_id: str, kind: NodeKind
) -> None:
    # Act
    mutation = plan(change("DELETE", entity_type, entity_id)).mutation

    # Assert
    assert (mutation.kind, mutation.node_id, dict(mutation.fields)) == (
        kind,
        entity_id,
        {"status": "DELETED", "updated_at": NOW_ISO},
    )


@pytest.mark.parametrize(
    ("raw", "operation"),
    [("create", Operation.CREATE), (" Update ", Operation.UPDATE), ("DELETE", Operation.DELETE)],
)
def test_operation_is_case_insensitive_and_trimmed(raw: str, operation: Operation) -> None:
    # Arrange
    payload = {"title": "x"} if operation is Operation.CREATE else {}

    # Act
    planned = plan(change(raw, "SUBTASK", "T-1" if operation is not Operation.CREATE else "T-9", payload))

    # Assert
    assert planned.operation is operation


@pytest.mark.parametrize(
    ("raw", "entity_type", "entity_id"),
    [
        ("TASK", EntityType.SUBTASK, "T-1"),
        ("task", EntityType.SUBTASK, "T-1"),
        ("subtask", EntityType.SUBTASK, "T-1"),
        ("STORY", EntityType.CASE, STORY_ID),
        (" story ", EntityType.CASE, STORY_ID),
        ("Decision", EntityType.DECISION, "D-1"),
        ("milestone", EntityType.MILESTONE, "M-1"),
        ("plan", EntityType.PLAN, "P-1"),
    ],
)
def test_entity_type_aliases_and_case_map_to_the_canonical_type(
    raw: str, entity_type: EntityType, entity_id: str
) -> None:
    # Act
    planned = plan(change("UPDATE", raw, entity_id, {}))

    # Assert
    assert planned.entity_type is entity_type


def test_entity_id_and_reason_are_trimmed() -> None:
    # Act
    planned = plan(change("UPDATE", "SUBTASK", "  T-1  ", {}, reason="  because  "))

    # Assert
    assert (planned.entity_id, planned.reason) == ("T-1", "because")


@pytest.mark.parametrize("payload", ["", "   ", "{}"])
def test_empty_payload_is_accepted(payload: str) -> None:
    # Act
    planned = plan(change("UPDATE", "SUBTASK", "T-1", payload))

    # Assert
    assert planned.mutation.node_id == "T-1"


def test_entity_created_earlier_in_the_batch_can_be_depended_on() -> None:
    # Arrange
    p = planner()
    plan(change("CREATE", "SUBTASK", "T-9", {"title": "first"}), p)

    # Act
    planned = plan(change("CREATE", "SUBTASK", "T-10", {"title": "second", "depends_on": "T-9"}), p)

    # Assert
    assert planned.mutation.links == (Link(LinkKind.DEPENDS_ON, NodeKind.TASK, "T-9"),)


def test_entity_deleted_earlier_in_the_batch_cannot_be_updated() -> None:
    # Arrange
    p = planner()
    plan(change("DELETE", "SUBTASK", "T-1"), p)

    # Act
    reason = rejection(change("UPDATE", "SUBTASK", "T-1", {"status": "DONE"}), p)

    # Assert
    assert reason == "subtask 'T-1' not found"


def test_create_of_an_existing_id_updates_it_without_requiring_a_title() -> None:
    # Act
    planned = plan(change("CREATE", "SUBTASK", "T-1", {"status": "DONE"}))

    # Assert
    assert dict(planned.mutation.fields) == {"updated_at": NOW_ISO, "status": "DONE"}


# --- rejections -------------------------------------------------------------------------------------

REJECTIONS = [
    pytest.param(
        change("UPSERT", "SUBTASK", "T-1"),
        "unknown operation 'UPSERT' (CREATE, UPDATE, DELETE)",
        id="unknown-op",
    ),
    pytest.param(
        change("", "SUBTASK", "T-1"), "unknown operation '' (CREATE, UPDATE, DELETE)", id="blank-op"
    ),
    pytest.param(
        change("CREATE", "EPIC", "E-1"),
        "unknown entity_type 'EPIC' (DECISION, SUBTASK, MILESTONE, CASE, PLAN)",
        id="unknown-type",
    ),
    pytest.param(change("CREATE", "SUBTASK", ""), "entity_id is required", id="empty-id"),
    pytest.param(change("CREATE", "SUBTASK", "   "), "entity_id is required", id="blank-id"),
    pytest.param(change("CREATE", "SUBTASK", "T" * 257), "entity_id exceeds 256 characters", id="long-id"),
    pytest.param(change("CREATE", "SUBTASK", "T-9", "{not json"), "payload is not valid JSON", id="bad-json"),
    pytest.param(
        change("CREATE", "SUBTASK", "T-9", '{"title": "x",}'),
        "payload is not valid JSON",
        id="trailing-comma",
    ),
    pytest.param(
        change("CREATE", "SUBTASK", "T-9", "[1, 2]"), "payload must be a JSON object", id="json-list"
    ),
    pytest.param(
        change("CREATE", "SUBTASK", "T-9", '"text"'), "payload must be a JSON object", id="json-string"
    ),
    pytest.param(change("CREATE", "SUBTASK", "T-9", "42"), "payload must be a JSON object", id="json-number"),
    pytest.param(change("CREATE", "SUBTASK", "T-9", "null"), "payload must be a JSON object", id="json-null"),
    pytest.param(
        change("UPDATE", "SUBTASK", "T-404", {}), "subtask 'T-404' not found", id="update-missing-task"
    ),
    pytest.param(
        change("UPDATE", "DECISION", "D-404", {}), "decision 'D-404' not found", id="update-missing-decision"
    ),
    pytest.param(
        change("UPDATE", "MILESTONE", "M-404", {}),
        "milestone 'M-404' not found",
        id="update-missing-milestone",
    ),
    pytest.param(change("UPDATE", "PLAN", "P-404", {}), "plan 'P-404' not found", id="update-missing-plan"),
    pytest.param(change("DELETE", "SUBTASK", "T-404"), "subtask 'T-404' not found", id="delete-missing"),
    pytest.param(
        change("CREATE", "SUBTASK", "T-9", {"title": "x", "dependencies": ["T-404"]}),
        "task 'T-404' of this story not found",
        id="dependency-on-unknown-task",
    ),
    pytest.param(
        change("UPDATE", "SUBTASK", "T-1", {"depends_on": "T-2, T-405"}),
        "task 'T-405' of this story not found",
        id="depends-on-unknown-task",
    ),
    pytest.param(
        change("CREATE", "SUBTASK", "T-9", {"title": "x", "dependencies": ["T-9"]}),
        "a task cannot depend on itself",
        id="self-dependency-on-create",
    ),
    pytest.param(
        change("UPDATE", "SUBTASK", "T-1", {"dependencies": "T-1"}),
        "a task cannot depend on itself",
        id="self-dependency-on-update",
    ),
    pytest.param(
        change("UPDATE", "SUBTASK", "T-1", {"dependencies": 7}),
        "dependencies must be a list of ids or a comma-separated string",
        id="dependencies-not-ids",
    ),
    pytest.param(
        change("UPDATE", "SUBTASK", "T-1", {"priority": "high"}),
        "priority must be an integer",
        id="priority-word",
    ),
    pytest.param(
        change("UPDATE", "SUBTASK", "T-1", {"priority": 1.5}),
        "priority must be an integer",
        id="priority-float",
    ),
    pytest.param(
        change("UPDATE", "SUBTASK", "T-1", {"priority": True}),
        "priority must be an integer",
        id="priority-bool",
    ),
    pytest.param(
        change("UPDATE", "SUBTASK", "T-1", {"priority": [1]}),
        "priority must be an integer",
        id="priority-list",
    ),
    pytest.param(
        change("UPDATE", "SUBTASK", "T-1", {"estimated_hours": "2.5"}),
        "estimated_hours must be an integer",
        id="hours-decimal-string",
    ),
    pytest.param(
        change("UPDATE", "SUBTASK", "T-1", {"role": "wizard"}), "unknown role 'wizard'", id="unknown-role"
    ),
    pytest.param(
        change("UPDATE", "SUBTASK", "T-1", {"title": {"a": 1}}), "title must be a string", id="title-object"
    ),
    pytest.param(
        change("CREATE", "SUBTASK", "T-9", {"role": "developer"}),
        "title is required to create it",
        id="task-no-title",
    ),
    pytest.param(
        change("CREATE", "DECISION", "D-9", {"title": "  "}),
        "title is required to create it",
        id="decision-blank-title",
    ),
    pytest.param(
        change("CREATE", "DECISION", "D-9", {"title": "x", "metadata": ["a"]}),
        "metadata must be a JSON object",
        id="decision-metadata-list",
    ),
    pytest.param(
        change("CREATE", "DECISION", "D-9", {"title": "x", "task_ids": ["T-404"]}),
        "task 'T-404' of this story not found",
        id="decision-unknown-task",
    ),
    pytest.param(
        change("CREATE", "DECISION", "D-9", {"title": "x", "relations": [{"to": "D-1", "type": "LIKES"}]}),
        "unknown decision relation 'LIKES'",
        id="decision-unknown-relation",
    ),
    pytest.param(
        change("CREATE", "DECISION", "D-9", {"title": "x", "relations": ["D-1"]}),
        "relations must be objects with 'to' and 'type'",
        id="decision-relation-not-object",
    ),
    pytest.param(
        change(
            "CREATE", "DECISION", "D-9", {"title": "x", "relations": [{"to": "D-404", "type": "GOVERNS"}]}
        ),
        "decision 'D-404' of this story not found",
        id="decision-relation-unknown-target",
    ),
    pytest.param(
        change("CREATE", "MILESTONE", "M-9", {"timestamp": "yesterday"}),
        "timestamp must be ISO-8601",
        id="milestone-bad-timestamp",
    ),
    pytest.param(
        change("UPDATE", "CASE", "S-2", {"title": "x"}), "case 'S-2' not found", id="case-update-another-id"
    ),
    pytest.param(
        change("CREATE", "CASE", "S-2", {"title": "x"}),
        "CASE changes must name the story itself as entity_id",
        id="case-create-another-id",
    ),
    pytest.param(
        change("CREATE", "STORY", "S-2", {"title": "x"}),
        "CASE changes must name the story itself as entity_id",
        id="story-alias-another-id",
    ),
    pytest.param(
        change("UPDATE", "CASE", STORY_ID, {"title": " "}), "title cannot be blank", id="case-blank-title"
    ),
    pytest.param(
        change("DELETE", "CASE", STORY_ID), "the case itself cannot be deleted", id="delete-the-case"
    ),
    pytest.param(
        change("DELETE", "STORY", STORY_ID), "the case itself cannot be deleted", id="delete-the-story"
    ),
]


@pytest.mark.parametrize(("raw", "reason"), REJECTIONS)
def test_invalid_change_is_rejected_with_its_reason(raw: RawChange, reason: str) -> None:
    # Act
    actual = rejection(raw)

    # Assert
    assert actual == reason


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(change("UPDATE", "SUBTASK", "T-1", {"dependencies": ["T-404"]}), id="update"),
        pytest.param(change("CREATE", "SUBTASK", "T-9", {"title": "x", "role": "wizard"}), id="create"),
    ],
)
def test_rejected_change_leaves_the_planner_without_the_entity(raw: RawChange) -> None:
    # Arrange
    p = planner()
    rejection(raw, p)

    # Act
    reason = rejection(change("CREATE", "SUBTASK", "T-10", {"title": "x", "depends_on": "T-9"}), p)

    # Assert
    assert reason == "task 'T-9' of this story not found"


# Payloads that are not valid changes must be rejected as ChangeRejected (a warning), never escape as another
# exception type that would fail the whole UpdateContext call.
MALFORMED_PAYLOADS = [
    pytest.param("SUBTASK", "T-9", "[" * 5000, id="deeply-nested-json-array"),
    pytest.param("SUBTASK", "T-9", '{"a":' * 5000 + "1" + "}" * 5000, id="deeply-nested-json-object"),
    pytest.param("DECISION", "D-9", '{"title": "x", "relations": 5}', id="relations-number"),
    pytest.param("DECISION", "D-9", '{"title": "x", "relations": true}', id="relations-bool"),
]


@pytest.mark.parametrize(("entity_type", "entity_id", "payload"), MALFORMED_PAYLOADS)
def test_malformed_payload_is_rejected_not_raised_as_another_error(
    entity_type: str, entity_id: str, payload: str
) -> None:
    # Arrange
    raw = change("CREATE", entity_type, entity_id, payload)

    # Act
    with pytest.raises(ChangeRejected):
        plan_change(planner(), raw)


# --- foreign ids ------------------------------------------------------------------------------------

FOREIGN = [
    pytest.param("SUBTASK", NodeKind.TASK, "subtask", id="subtask"),
    pytest.param("TASK", NodeKind.TASK, "subtask", id="task-alias"),
    pytest.param("DECISION", NodeKind.DECISION, "decision", id="decision"),
    pytest.param("MILESTONE", NodeKind.MILESTONE, "milestone", id="milestone"),
    pytest.param("PLAN", NodeKind.PLAN, "plan", id="plan"),
]


@pytest.mark.parametrize(("entity_type", "kind", "word"), FOREIGN)
@pytest.mark.parametrize("op", ["CREATE", "UPDATE", "DELETE"])
def test_id_owned_by_another_story_is_rejected_naming_the_owner(
    entity_type: str, kind: NodeKind, word: str, op: str
) -> None:
    # Arrange
    p = planner(foreign={(kind, "X-1"): "S-OTHER"})

    # Act
    reason = rejection(change(op, entity_type, "X-1", {"title": "x"}), p)

    # Assert
    assert reason == f"{word} 'X-1' belongs to story 'S-OTHER'"


def test_foreign_id_of_another_kind_does_not_block_the_change() -> None:
    # Arrange
    p = planner(foreign={(NodeKind.DECISION, "X-1"): "S-OTHER"})

    # Act
    planned = plan(change("CREATE", "SUBTASK", "X-1", {"title": "x"}), p)

    # Assert
    assert planned.mutation.kind is NodeKind.TASK
