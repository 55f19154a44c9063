"""GetContext: render the prompt context one agent may see, within its token budget."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TypeVar

from context_service.application.cached_reads import CachedReads, Finish
from context_service.application.common import require_phase
from context_service.domain.errors import InvalidArgument, NotFound
from context_service.domain.limits import optional_id, require_id
from context_service.domain.model import PlanningReadModel, StoryGraph
from context_service.domain.policy import ScopePolicy
from context_service.domain.prompt import PromptBlocks, content_version, fit_to_budget, system_text
from context_service.domain.rendering import RenderInput, render_sections
from context_service.domain.vocabulary import Phase
from context_service.ports.system import TokenCounter

MAX_TOKEN_BUDGET = 1_000_000
T = TypeVar("T")


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


@dataclass(frozen=True)
class Asked:
    """A validated request (the response cache's key: the policy and tokenizer are fixed per process)."""

    story_id: str
    role: str
    phase: Phase
    subtask_id: str
    token_budget: int


class GetContext:
    """Renders the sections the policy grants, redacts them, and fits them to the budget."""

    def __init__(self, *, policy: ScopePolicy, reads: CachedReads, tokens: TokenCounter) -> None:
        self._policy = policy
        self._reads = reads
        self._tokens = tokens

    async def execute(self, request: ContextRequest) -> ContextResult:
        """Validate, load once, render, redact, fit (no cache)."""
        asked = self.validated(request)
        return self._render(asked, *await self._reads.load(asked.story_id, [asked.role]))

    async def answer(self, asked: Asked, finish: Finish[ContextResult, T]) -> T:
        """`execute` of a `validated` request, finished by `finish`, served from the response cache while the
        story is unchanged."""
        build = functools.partial(self._render, asked)
        return await self._reads.answer(asked, asked.story_id, [asked.role], build, finish)

    def validated(self, request: ContextRequest) -> Asked:
        """The request with its ids and role normalised; INVALID_ARGUMENT for a bad field (a function of the
        request and the policy alone)."""
        story_id = require_id(request.story_id, "story_id")
        role = self._policy.require_role(request.role)
        phase = require_phase(request.phase)
        subtask_id = optional_id(request.subtask_id, "subtask_id")
        if request.token_budget < 0 or request.token_budget > MAX_TOKEN_BUDGET:
            raise InvalidArgument(
                f"token_budget must be between 0 and {MAX_TOKEN_BUDGET}", field="token_budget"
            )
        return Asked(story_id, role, phase, subtask_id, request.token_budget)

    def _render(self, asked: Asked, graph: StoryGraph, planning: PlanningReadModel) -> ContextResult:
        scopes = self._policy.require_scopes(asked.role, asked.phase)
        focus = graph.task(asked.subtask_id) if asked.subtask_id else None
        if asked.subtask_id and focus is None:
            raise NotFound("subtask", asked.subtask_id)
        sections = render_sections(RenderInput(graph, planning, asked.role, asked.phase, scopes, focus))
        fitted = fit_to_budget(
            system_text(asked.role, graph.story.title),
            sections,
            self._policy.tools_text(asked.role),
            asked.token_budget,
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
