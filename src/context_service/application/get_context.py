"""GetContext: render the prompt context one agent may see, within its token budget."""

from __future__ import annotations

from dataclasses import dataclass

from context_service.application.common import require_phase, require_story_graph
from context_service.domain.errors import InvalidArgument, NotFound
from context_service.domain.limits import optional_id, require_id
from context_service.domain.policy import ScopePolicy
from context_service.domain.prompt import PromptBlocks, content_version, fit_to_budget, system_text
from context_service.domain.rendering import RenderInput, render_sections
from context_service.ports.graph import StoryReader
from context_service.ports.planning import PlanningReader
from context_service.ports.system import TokenCounter

MAX_TOKEN_BUDGET = 1_000_000


@dataclass(frozen=True)
class ContextRequest:
    """GetContext input."""

    story_id: str
    role: str
    phase: str
    subtask_id: str = ""
    token_budget: int = 0


@dataclass(frozen=True)
class ContextResult:
    """The rendered prompt and what shaped it."""

    context: str
    token_count: int
    scopes: tuple[str, ...]
    version: str
    blocks: PromptBlocks
    tokenizer: str
    dropped_sections: tuple[str, ...]


class GetContext:
    """Renders the sections the policy grants, redacts them, and fits them to the budget."""

    def __init__(
        self, *, policy: ScopePolicy, stories: StoryReader, planning: PlanningReader, tokens: TokenCounter
    ) -> None:
        self._policy = policy
        self._stories = stories
        self._planning = planning
        self._tokens = tokens

    async def execute(self, request: ContextRequest) -> ContextResult:
        """Validate, load once, render, redact, fit."""
        story_id = require_id(request.story_id, "story_id")
        role = self._policy.require_role(request.role)
        phase = require_phase(request.phase)
        subtask_id = optional_id(request.subtask_id, "subtask_id")
        if request.token_budget < 0 or request.token_budget > MAX_TOKEN_BUDGET:
            raise InvalidArgument(
                f"token_budget must be between 0 and {MAX_TOKEN_BUDGET}", field="token_budget"
            )
        graph = await require_story_graph(self._stories, story_id)
        scopes = self._policy.require_scopes(role, phase)
        focus = graph.task(subtask_id) if subtask_id else None
        if subtask_id and focus is None:
            raise NotFound("subtask", subtask_id)
        planning = await self._planning.load(story_id, [role])
        sections = render_sections(RenderInput(graph, planning, role, phase, scopes, focus))
        fitted = fit_to_budget(
            system_text(role, graph.story.title),
            sections,
            self._policy.tools_text(role),
            request.token_budget,
            self._tokens.count,
        )
        return ContextResult(
            context=fitted.text,
            token_count=fitted.token_count,
            scopes=tuple(s.value for s in scopes),
            version=content_version(fitted.text),
            blocks=fitted.blocks,
            tokenizer=self._tokens.name,
            dropped_sections=fitted.dropped,
        )
