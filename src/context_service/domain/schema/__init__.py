"""One module per node label: its stored fields, create defaults, relationships, read defaults, typed id.

Writers (the use cases, `domain.changes`) take a label's fields and defaults from its module; projections
(`adapters/property_graph/views.py`) read nodes back through its `read`. `labels.py` holds the label and link
whitelists, `fields.py` the payload and property readers the modules share.

    story  task  decision  plan (PlanVersion)  milestone (Event)  transition (PhaseTransition)
    plan_approval  task_dispatch  project  epic
"""

from __future__ import annotations

from context_service.domain.schema import (
    decision,
    epic,
    milestone,
    plan,
    plan_approval,
    project,
    story,
    task,
    task_dispatch,
    transition,
)
from context_service.domain.schema.labels import Label, NodeKind

LABELS: tuple[Label, ...] = (
    story.LABEL,
    task.LABEL,
    decision.LABEL,
    plan.LABEL,
    milestone.LABEL,
    transition.LABEL,
    plan_approval.LABEL,
    task_dispatch.LABEL,
    project.LABEL,
    epic.LABEL,
)
# Structural edge from the story to each story-scoped label.
STORY_EDGES: dict[NodeKind, str] = {s.kind: s.story_edge for s in LABELS if s.story_edge}
# The legacy typed id property of each label, written beside `id`.
TYPED_ID: dict[NodeKind, str] = {s.kind: s.typed_id for s in LABELS if s.typed_id}
