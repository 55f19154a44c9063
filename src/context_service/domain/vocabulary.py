"""Roles, phases and scopes: the words of the scope policy, with their normalisation rules."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """A story's phase of work."""

    DESIGN = "DESIGN"
    BUILD = "BUILD"
    TEST = "TEST"
    DOC = "DOC"


PHASE_ALIASES: dict[str, Phase] = {"DOCS": Phase.DOC, "DOCUMENTATION": Phase.DOC}


class Scope(StrEnum):
    """A section permission of the rendered context."""

    CASE_HEADER = "CASE_HEADER"
    PLAN_HEADER = "PLAN_HEADER"
    SUBTASKS_ROLE = "SUBTASKS_ROLE"
    SUBTASKS_ROLE_MIN = "SUBTASKS_ROLE_MIN"
    SUBTASKS_ALL = "SUBTASKS_ALL"
    SUBTASKS_ALL_MIN = "SUBTASKS_ALL_MIN"
    DECISIONS_RELEVANT_ROLE = "DECISIONS_RELEVANT_ROLE"
    DECISIONS_GLOBAL = "DECISIONS_GLOBAL"
    DECISIONS_GLOBAL_MIN = "DECISIONS_GLOBAL_MIN"
    DEPS_RELEVANT = "DEPS_RELEVANT"
    DEPS_DECISIONS = "DEPS_DECISIONS"
    MILESTONES = "MILESTONES"
    SUMMARY_LAST = "SUMMARY_LAST"


DEFAULT_ROLE_ALIASES: dict[str, str] = {
    "DEV": "developer",
    "ARCH": "architect",
    "TESTER": "qa",
    "OPS": "devops",
    "SRE": "devops",
}

DONE_STATUSES = frozenset({"DONE", "COMPLETED"})
DELETED = "DELETED"


def parse_phase(raw: str) -> Phase | None:
    """Return the phase named by `raw` (case-insensitive, aliases allowed), or None."""
    key = raw.strip().upper()
    if key in PHASE_ALIASES:
        return PHASE_ALIASES[key]
    try:
        return Phase(key)
    except ValueError:
        return None


def parse_scope(raw: str) -> Scope | None:
    """Return the scope named by `raw` (case-insensitive), or None."""
    try:
        return Scope(raw.strip().upper())
    except ValueError:
        return None


def known_phases() -> str:
    """The phase names, for error messages."""
    return ", ".join(p.value for p in Phase)
