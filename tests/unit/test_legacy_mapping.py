"""The pure mapping from legacy records to this service's writes, and the report it builds."""

from __future__ import annotations

import random
from typing import Any

from context_service.domain.legacy import LegacyEdge, LegacyStory, Shape
from context_service.domain.legacy_mapping import StoryAdoption, map_story
from context_service.domain.legacy_report import AdoptionReport
from context_service.domain.legacy_values import epoch_ms
from context_service.domain.mutations import Mutation, NodeKind


def roles(raw: str) -> str | None:
    """The packaged policy's role words, enough for these tests."""
    known = {"developer", "qa", "architect"}
    word = {"DEV": "developer"}.get(raw.upper(), raw.lower())
    return word if word in known else None


def story(**shapes: list[dict[str, Any]]) -> LegacyStory:
    """A legacy story L-1 with the given node records (shape names as keywords)."""
    found = LegacyStory("L-1")
    for name, records in shapes.items():
        found.nodes[Shape[name.upper()]] = records
    return found


def adopt(legacy: LegacyStory, report: AdoptionReport | None = None) -> StoryAdoption:
    return map_story(legacy, roles=roles, epics=frozenset(), report=report or AdoptionReport())


def node(adoption: StoryAdoption, kind: NodeKind, node_id: str) -> Mutation:
    return next(m for m in adoption.mutations if m.kind is kind and m.node_id == node_id and m.fields)


def test_a_story_under_two_labels_keeps_the_project_case_title_and_reports_the_conflict() -> None:
    report = AdoptionReport()
    legacy = story(
        project_case=[{"id": "L-1", "story_id": "L-1", "title": "Checkout", "current_phase": "build"}],
        planning_story=[{"story_id": "L-1", "name": "Pay", "epic_id": "E-1"}],
    )

    adopted = node(adopt(legacy, report), NodeKind.STORY, "L-1")

    assert (adopted.fields["title"], adopted.fields["current_phase"], adopted.fields["epic_id"]) == (
        "Checkout",
        "BUILD",
        "E-1",
    )
    assert report.conflicts == [
        "story 'L-1' has different titles under ProjectCase/Story: ['Checkout', 'Pay']; kept 'Checkout'"
    ]


def test_a_decision_with_only_kind_and_summary_gets_its_title_rationale_and_type_from_them() -> None:
    legacy = story(
        case=[{"id": "L-1", "name": "Old case"}],
        decision=[{"id": "D-1", "kind": "architecture", "summary": "Use an outbox\nso nothing is lost"}],
    )

    decision = node(adopt(legacy), NodeKind.DECISION, "D-1")

    assert (decision.fields["title"], decision.fields["rationale"], decision.fields["decision_type"]) == (
        "Use an outbox",
        "Use an outbox\nso nothing is lost",
        "ARCHITECTURE",
    )


def test_string_timestamps_are_read_as_milliseconds_seconds_or_iso_and_bad_ones_are_reported() -> None:
    report = AdoptionReport()
    legacy = story(
        case=[{"id": "L-1", "name": "Case"}],
        event=[
            {"id": "E-ms", "timestamp_ms": "1788343200000"},
            {"id": "E-s", "timestamp_ms": "1788343200"},
            {"id": "E-iso", "timestamp_ms": "2026-09-02T10:00:00Z"},
            {"id": "E-bad", "timestamp_ms": "last tuesday"},
        ],
    )

    adoption = adopt(legacy, report)

    events = ("E-ms", "E-s", "E-iso", "E-bad")
    stamps = [node(adoption, NodeKind.MILESTONE, e).fields["ts_ms"] for e in events]
    assert stamps == [1788343200000, 1788343200000, 1788343200000, 0]
    assert report.unmappable == ["Event 'E-bad': timestamp_ms 'last tuesday' is not a timestamp; stored 0"]


def test_an_affects_edge_to_a_subtask_outside_the_story_is_an_orphan_not_a_write() -> None:
    report = AdoptionReport()
    legacy = story(
        case=[{"id": "L-1", "name": "Case"}],
        subtask=[{"id": "S-1", "title": "Split", "plan_id": ""}],
        decision=[{"id": "D-1", "summary": "One sequence"}],
    )
    legacy.edges[Shape.AFFECTS] = [LegacyEdge("D-1", "S-1", "AFFECTS"), LegacyEdge("D-1", "S-9", "AFFECTS")]

    decision = node(adopt(legacy, report), NodeKind.DECISION, "D-1")

    assert [(link.kind.value, link.target_id) for link in decision.links] == [("INFLUENCED_BY", "S-1")]
    assert len(report.orphans) == 1
    assert "'S-9'" in report.orphans[0]


def test_the_same_records_in_another_order_map_to_the_same_digest() -> None:
    records = [{"id": f"D-{n}", "summary": f"Decision {n}"} for n in range(8)]
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)

    first = adopt(story(case=[{"id": "L-1"}], decision=records))
    second = adopt(story(case=[{"id": "L-1"}], decision=shuffled))

    assert first.digest == second.digest


def test_reading_an_adopted_node_back_maps_to_the_same_writes() -> None:
    legacy = {"id": "D-1", "kind": "process", "summary": "Flag per market", "created_at_ms": "1788343200"}
    first = adopt(story(case=[{"id": "L-1"}], decision=[legacy]))
    adopted_in_place = {**legacy, **node(first, NodeKind.DECISION, "D-1").fields}

    second = adopt(story(case=[{"id": "L-1"}], decision=[adopted_in_place]))

    assert second.digest == first.digest


def test_an_unknown_role_is_kept_as_written_and_reported() -> None:
    report = AdoptionReport()
    task_record = {"task_id": "T-1", "title": "Picker", "role": "Frontend"}
    legacy = story(case=[{"id": "L-1"}], story_task=[task_record])

    task = node(adopt(legacy, report), NodeKind.TASK, "T-1")

    assert task.fields["role"] == "frontend"
    assert report.unmappable == [
        "Task 'T-1': role 'Frontend' is not a role of the scope policy; stored as is"
    ]


def test_epoch_numbers_below_1e11_are_seconds() -> None:
    assert (epoch_ms(1_788_343_200), epoch_ms(1_788_343_200_000), epoch_ms("x"), epoch_ms(0)) == (
        1_788_343_200_000,
        1_788_343_200_000,
        None,
        None,
    )
