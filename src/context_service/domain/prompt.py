"""Prompt assembly: blocks, serialisation, content version and token-budget fitting."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from context_service.domain.rendering import Section

BLOCK_SEPARATOR = "\n\n---\n\n"
JOIN_SLACK = 2
TokenCount = Callable[[str], int]


@dataclass(frozen=True)
class PromptBlocks:
    """The three prompt blocks served to an agent."""

    system: str
    context: str
    tools: str


@dataclass(frozen=True)
class FittedPrompt:
    """The final prompt: blocks, their serialisation, its token count and what the budget cut."""

    blocks: PromptBlocks
    text: str
    token_count: int
    dropped: tuple[str, ...] = ()


def system_text(role: str, title: str) -> str:
    """The system block for a role working on a case."""
    return (
        f"You are the {role} agent working on case '{title}'. "
        "Follow constraints and acceptance criteria. Provide only necessary steps."
    )


def serialise(blocks: PromptBlocks) -> str:
    """Each non-empty block under its heading, blocks joined by a rule."""
    parts = [
        f"# {name}\n\n{text}"
        for name, text in (("System", blocks.system), ("Context", blocks.context), ("Tools", blocks.tools))
        if text
    ]
    return BLOCK_SEPARATOR.join(parts)


def content_version(text: str) -> str:
    """First 16 hex characters of the SHA-256 of `text`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def context_block(sections: Sequence[Section]) -> str:
    """The context block: sections separated by blank lines."""
    return "\n\n".join(s.text for s in sections)


def fit_to_budget(
    system: str, sections: Sequence[Section], tools: str, budget: int, count: TokenCount
) -> FittedPrompt:
    """Drop whole sections (lowest rank first), then lines, so the prompt never exceeds `budget` tokens.

    Sections are counted once and cuts are chosen from those (nearly additive) counts; every choice is
    then verified with a real count of the whole prompt, so the estimate never decides the outcome.
    When dropping the last section freed more room than needed, its leading lines fill that room.
    """
    fitted = _assemble(system, sections, tools, count)
    if budget <= 0 or fitted.token_count <= budget:
        return fitted
    sizes = {id(s): count(s.text) for s in sections}
    frame = count(serialise(PromptBlocks(system, "x", tools))) - 1  # everything but the sections
    per_seam = (fitted.token_count - frame - sum(sizes.values())) / max(1, len(sections) - 1)
    fit = _Fit(system, tools, budget, count)
    kept = list(sections)
    removed: list[Section] = []
    droppable = sorted((s for s in kept if s.drop_rank is not None), key=_drop_order(kept))
    victims: list[Section | None] = [*droppable, None]  # None: nothing left, only the real count decides
    for victim in victims:
        estimate = frame + sum(sizes[id(s)] for s in kept) + per_seam * (len(kept) - 1)
        # Joining sections can merge or split a token at each seam, so allow a little slack per seam.
        if victim is None or estimate <= budget + JOIN_SLACK * len(kept):
            fitted = _assemble(system, kept, tools, count)
            if fitted.token_count <= budget:
                return _refill(fit, sections, kept, fitted, removed)
        if victim is not None:
            kept.remove(victim)
            removed.append(victim)
    return _with_dropped(_truncate_lines(system, kept, tools, budget, count), [s.name for s in removed])


@dataclass(frozen=True)
class _Fit:
    """The fixed inputs of one budget fitting."""

    system: str
    tools: str
    budget: int
    count: TokenCount


MIN_REFILL_ROOM = 16


def _refill(
    fit: _Fit, sections: Sequence[Section], kept: list[Section], fitted: FittedPrompt, removed: list[Section]
) -> FittedPrompt:
    """Put back the leading lines of the last dropped section where the freed room allows."""
    dropped = [s.name for s in removed]
    room = fit.budget - fitted.token_count
    if not removed or room < MIN_REFILL_ROOM:
        return _with_dropped(fitted, dropped)
    victim = removed[-1]
    kept_ids = {id(s) for s in kept}
    room -= JOIN_SLACK + fit.count(victim.lines[0] + "\n\n")
    keep = _estimated_prefix(list(victim.lines), room, fit.count)
    while keep >= 2:  # the heading and at least one line, or nothing
        partial = Section(victim.name, victim.lines[:keep], victim.drop_rank)
        ordered = [partial if s is victim else s for s in sections if s is victim or id(s) in kept_ids]
        candidate = _assemble(fit.system, ordered, fit.tools, fit.count)
        if candidate.token_count <= fit.budget:
            return _with_dropped(candidate, [*dropped[:-1], f"{victim.name} (truncated)"])
        keep -= max(1, keep // 8)
    return _with_dropped(fitted, dropped)


def _drop_order(sections: list[Section]) -> Callable[[Section], tuple[int, int]]:
    """Lowest rank first; within a rank, later sections first."""
    position = {id(s): i for i, s in enumerate(sections)}
    return lambda s: (s.drop_rank if s.drop_rank is not None else 1 << 30, -position[id(s)])


def _assemble(system: str, sections: Sequence[Section], tools: str, count: TokenCount) -> FittedPrompt:
    blocks = PromptBlocks(system=system, context=context_block(sections), tools=tools)
    text = serialise(blocks)
    return FittedPrompt(blocks=blocks, text=text, token_count=count(text))


def _with_dropped(fitted: FittedPrompt, dropped: list[str]) -> FittedPrompt:
    return FittedPrompt(fitted.blocks, fitted.text, fitted.token_count, (*dropped, *fitted.dropped))


def _truncate_lines(
    system: str, sections: Sequence[Section], tools: str, budget: int, count: TokenCount
) -> FittedPrompt:
    """Keep the longest prefix of context lines that fits; the first line (the case header) always stays.

    If even the case header does not fit beside them, the tools block goes, then the system block.
    """
    lines = context_block(sections).split("\n")

    def build(keep: int, system_text_: str, tools_text: str) -> FittedPrompt:
        blocks = PromptBlocks(system=system_text_, context="\n".join(lines[:keep]).rstrip(), tools=tools_text)
        text = serialise(blocks)
        return FittedPrompt(blocks=blocks, text=text, token_count=count(text))

    variants = ((system, tools, ()), (system, "", ("Tools",)), ("", "", ("Tools", "System")))
    for system_text_, tools_text, blocks_dropped in variants:
        frame = build(1, system_text_, tools_text).token_count
        if frame > budget:
            continue
        keep = _estimated_prefix(lines, budget - frame, count)
        # The per-line estimate can be a little optimistic: step back until the real count fits.
        while keep > 1 and build(keep, system_text_, tools_text).token_count > budget:
            keep = max(1, keep - max(1, keep // 16))
        candidate = build(keep, system_text_, tools_text)
        cut = tuple(f"{s.name} (truncated)" for s in _touched(sections, keep))
        return FittedPrompt(candidate.blocks, candidate.text, candidate.token_count, (*cut, *blocks_dropped))
    cut_all = [f"{s.name} (truncated)" for s in _touched(sections, 1)] + ["Tools", "System"]
    return _hard_cut(build(1, "", ""), budget, count, cut_all)


def _estimated_prefix(lines: list[str], room: int, count: TokenCount) -> int:
    """How many leading lines fit in `room` tokens, counting each line (plus its newline) once."""
    used, keep = 0, 1
    for line in lines[1:]:
        used += count(line + "\n")
        if used > room:
            break
        keep += 1
    return keep


def _touched(sections: Sequence[Section], kept_lines: int) -> list[Section]:
    """Sections that lost at least one line when only `kept_lines` context lines remain."""
    touched, start = [], 0
    for section in sections:
        end = start + len(section.lines)
        if end > kept_lines:
            touched.append(section)
        start = end + 1  # the blank line between sections
    return touched


def _hard_cut(fitted: FittedPrompt, budget: int, count: TokenCount, cut: list[str]) -> FittedPrompt:
    """Last resort for absurdly small budgets: shorten the case header line from its end."""
    context = fitted.blocks.context
    while context and count(serialise(PromptBlocks("", context, ""))) > budget:
        context = context[: max(0, len(context) - max(1, len(context) // 8))]
    blocks = PromptBlocks(system="", context=context, tools="")
    text = serialise(blocks)
    return FittedPrompt(blocks, text, count(text), tuple(dict.fromkeys((*cut, "Case (truncated)"))))
