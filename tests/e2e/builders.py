"""Small request builders for the e2e RPC tests (everything goes through the real generated stub)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

import grpc
import pytest

from context_service.application.create_story import StoryRequest
from context_service.application.record_epic import EpicCreated
from context_service.application.record_project import ProjectCreated
from fleet.context.v1 import context_pb2 as pb
from tests.support.harness import Service

STORY_ID = "STORY-LOGIN-42"
STORY_TITLE = "Passwordless login"
UPDATED_SUBJECT = "context.events.updated"


async def create_story(
    service: Service,
    story_id: str = STORY_ID,
    *,
    title: str = STORY_TITLE,
    description: str = "Let users sign in with a magic link.",
    initial_phase: str = "",
) -> pb.CreateStoryResponse:
    """CreateStory with realistic defaults."""
    request = pb.CreateStoryRequest(
        story_id=story_id, title=title, description=description, initial_phase=initial_phase
    )
    return await service.stub.CreateStory(request)


async def create_task(
    service: Service,
    task_id: str,
    *,
    story_id: str = STORY_ID,
    role: str = "developer",
    dependencies: Sequence[str] = (),
    priority: int = 0,
    title: str = "",
) -> pb.CreateTaskResponse:
    """CreateTask under a story; the title defaults to one derived from the id."""
    request = pb.CreateTaskRequest(
        story_id=story_id,
        task_id=task_id,
        title=title or f"Implement {task_id}",
        role=role,
        dependencies=list(dependencies),
        priority=priority,
    )
    return await service.stub.CreateTask(request)


async def add_decision(
    service: Service,
    *,
    story_id: str = STORY_ID,
    decision_type: str = "ARCHITECTURE",
    title: str = "Use signed magic links",
    rationale: str = "No passwords to leak.",
    metadata: Mapping[str, str] | None = None,
) -> str:
    """AddProjectDecision; returns the new decision id."""
    request = pb.AddProjectDecisionRequest(
        story_id=story_id,
        decision_type=decision_type,
        title=title,
        rationale=rationale,
        metadata=dict(metadata or {}),
    )
    return (await service.stub.AddProjectDecision(request)).decision_id


def change(
    operation: str,
    entity_type: str,
    entity_id: str,
    payload: Mapping[str, Any] | str | None = None,
    reason: str = "",
) -> pb.ContextChange:
    """A ContextChange; a mapping payload is serialised to the opaque JSON string."""
    text = payload if isinstance(payload, str) else json.dumps(payload) if payload is not None else ""
    return pb.ContextChange(
        operation=operation, entity_type=entity_type, entity_id=entity_id, payload=text, reason=reason
    )


def update_request(
    *changes: pb.ContextChange, story_id: str = STORY_ID, role: str = "developer", task_id: str = ""
) -> pb.UpdateContextRequest:
    """An UpdateContextRequest carrying `changes`."""
    return pb.UpdateContextRequest(story_id=story_id, role=role, task_id=task_id, changes=list(changes))


async def update(
    service: Service,
    *changes: pb.ContextChange,
    story_id: str = STORY_ID,
    role: str = "developer",
    idempotency_key: str = "",
) -> pb.UpdateContextResponse:
    """UpdateContext with `changes`, optionally under an idempotency key."""
    metadata = (("idempotency-key", idempotency_key),) if idempotency_key else None
    request = update_request(*changes, story_id=story_id, role=role)
    return await service.stub.UpdateContext(request, metadata=metadata)


async def rehydrate(
    service: Service, *roles: str, story_id: str = STORY_ID, **options: Any
) -> pb.RehydrateSessionResponse:
    """RehydrateSession for `roles` with optional request fields."""
    request = pb.RehydrateSessionRequest(case_id=story_id, roles=list(roles), **options)
    return await service.stub.RehydrateSession(request)


async def get_context(
    service: Service, role: str, phase: str, *, story_id: str = STORY_ID, subtask_id: str = ""
) -> pb.GetContextResponse:
    """GetContext for one role and phase."""
    request = pb.GetContextRequest(story_id=story_id, role=role, phase=phase, subtask_id=subtask_id)
    return await service.stub.GetContext(request)


async def rpc_error(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    """Await a call that must fail and return its error."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def status_of(call: Awaitable[object]) -> grpc.StatusCode:
    """Await a call and return its status code (OK when it succeeds)."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def subtask_ids(pack: pb.RoleContextPack) -> list[str]:
    """The pack's subtask ids in served order."""
    return [t.subtask_id for t in pack.subtasks]


def updated_events(service: Service) -> list[Any]:
    """Published context.events.updated events, in order."""
    return [e for e in service.events.events if e.subject == UPDATED_SUBJECT]


async def project_and_epic(service: Service, project_id: str, epic_id: str, *, title: str = "") -> None:
    """A project and one epic under it, through the use cases planning events reach."""
    uc = service.container.use_cases
    await uc.record_project.execute(ProjectCreated(project_id, f"Project {project_id}"))
    await uc.record_epic.execute(EpicCreated(epic_id, project_id, title or f"Epic {epic_id}"))


async def link_story(service: Service, epic_id: str, story_id: str) -> None:
    """Hang an existing story under an epic (CreateStory with an epic links it and changes nothing else)."""
    await service.container.use_cases.create_story.execute(StoryRequest(story_id, "(kept)", epic_id=epic_id))
