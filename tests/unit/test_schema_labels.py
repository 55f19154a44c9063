"""The label declaration: the typed id written beside `id` and where a legacy record keeps its id."""

from __future__ import annotations

from context_service.domain.schema import decision, task


def test_a_label_with_a_typed_id_writes_it_beside_the_node_id() -> None:
    assert task.LABEL.typed("T-1") == {"task_id": "T-1"}


def test_a_label_without_a_typed_id_writes_nothing_beside_the_node_id() -> None:
    assert decision.LABEL.typed("D-1") == {}


def test_a_legacy_record_id_is_its_typed_id_before_its_id() -> None:
    assert task.LABEL.legacy_id({"id": "X-1", "task_id": "T-1"}) == "T-1"


def test_a_legacy_record_without_a_typed_id_is_known_by_its_id() -> None:
    assert task.LABEL.legacy_id({"id": "X-1", "task_id": ""}) == "X-1"


def test_a_legacy_record_without_any_id_has_an_empty_one() -> None:
    assert decision.LABEL.legacy_id({"title": "no id"}) == ""
