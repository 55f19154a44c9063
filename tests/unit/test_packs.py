"""Rehydration packs redact free text and keep the entities that hold no secret as they are."""

from __future__ import annotations

from context_service.domain.model import PlanningReadModel, Story, StoryGraph, Task
from context_service.domain.packs import PackOptions, build_pack
from context_service.domain.redaction import REDACTED

SECRET = "password=" + "n0t-a-real-value"
OPTIONS = PackOptions(include_timeline=False, include_summaries=False, timeline_events=0)


def test_a_pack_redacts_the_task_that_holds_a_secret_and_serves_the_others_unchanged() -> None:
    # Arrange
    clean = Task("T-1", "S-1", "Write the parser", description="Plain prose only.", role="developer")
    secret = Task("T-2", "S-1", "Wire the store", description=f"Use {SECRET} for now.", role="developer")
    graph = StoryGraph(Story("S-1", "Story"), tasks=(clean, secret))

    # Act
    pack = build_pack(graph, PlanningReadModel(), "developer", OPTIONS)

    # Assert
    served = {t.task_id: t for t in pack.subtasks}
    assert served["T-1"] == clean
    assert served["T-2"].description == f"Use password={REDACTED} for now."
    assert served["T-2"].title == secret.title
