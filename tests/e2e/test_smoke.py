"""The assembled service answers over real gRPC."""

from __future__ import annotations

from fleet.context.v1 import context_pb2 as pb
from tests.support.harness import Service


async def test_created_story_is_served_by_get_context(service: Service) -> None:
    await service.stub.CreateStory(
        pb.CreateStoryRequest(story_id="S-1", title="Login", initial_phase="BUILD")
    )

    response = await service.stub.GetContext(
        pb.GetContextRequest(story_id="S-1", role="developer", phase="BUILD")
    )

    assert "Case: S-1 — Login" in response.context
    assert response.scopes[0] == "CASE_HEADER"
