"""The set of wired use cases handed to inbound adapters."""

from __future__ import annotations

from dataclasses import dataclass

from context_service.application.add_project_decision import AddProjectDecision
from context_service.application.approve_plan import ApprovePlan
from context_service.application.create_story import CreateStory
from context_service.application.create_task import CreateTask
from context_service.application.dispatch_task import DispatchTask
from context_service.application.get_context import GetContext
from context_service.application.get_graph_relationships import GetGraphRelationships
from context_service.application.get_history import GetHistory
from context_service.application.record_deliberation import RecordDeliberation
from context_service.application.record_epic import RecordEpic
from context_service.application.record_planned_task import RecordPlannedTask
from context_service.application.record_project import RecordProject
from context_service.application.rehydrate_session import RehydrateSession
from context_service.application.snapshots import ExportStory, ImportStory
from context_service.application.transition_phase import TransitionPhase
from context_service.application.update_context import UpdateContext
from context_service.application.validate_scope import ValidateScope


@dataclass(frozen=True)
class UseCases:
    """One instance of each use case; every write goes through the same commit step."""

    get_context: GetContext
    update_context: UpdateContext
    rehydrate_session: RehydrateSession
    validate_scope: ValidateScope
    create_story: CreateStory
    create_task: CreateTask
    add_project_decision: AddProjectDecision
    transition_phase: TransitionPhase
    get_graph_relationships: GetGraphRelationships
    get_history: GetHistory
    export_story: ExportStory
    import_story: ImportStory
    record_project: RecordProject
    record_epic: RecordEpic
    record_planned_task: RecordPlannedTask
    approve_plan: ApprovePlan
    record_deliberation: RecordDeliberation
    dispatch_task: DispatchTask
