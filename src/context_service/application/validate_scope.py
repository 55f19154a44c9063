"""ValidateScope: compare provided scopes with the policy for a role and phase (never an RPC error)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from context_service.domain.policy import ScopePolicy
from context_service.domain.vocabulary import parse_phase, parse_scope


@dataclass(frozen=True)
class ScopeVerdict:
    """Whether the provided scopes match the policy exactly, and why not."""

    allowed: bool
    missing: tuple[str, ...]
    extra: tuple[str, ...]
    reason: str


class ValidateScope:
    """Checks a set of scopes against the role/phase policy."""

    def __init__(self, *, policy: ScopePolicy) -> None:
        self._policy = policy

    def check(self, role: str, phase: str, provided_scopes: Sequence[str]) -> ScopeVerdict:
        """Missing and extra scopes (sorted); unknown role/phase or no policy: not allowed, all extra.

        Depends on its arguments and the policy alone (fixed for the process's life): the same question
        always gets the same verdict, so a caller may keep verdicts.
        """
        provided = sorted({_canonical(s) for s in provided_scopes if s.strip()})
        canonical_role = self._policy.normalise_role(role)
        canonical_phase = parse_phase(phase)
        if canonical_role is None:
            return ScopeVerdict(False, (), tuple(provided), f"Unknown role '{role.strip()}'")
        if canonical_phase is None:
            return ScopeVerdict(False, (), tuple(provided), f"Unknown phase '{phase.strip()}'")
        expected = self._policy.scopes_for(canonical_role, canonical_phase)
        if expected is None:
            reason = f"No scope policy for role '{canonical_role}' in phase {canonical_phase.value}"
            return ScopeVerdict(False, (), tuple(provided), reason)
        missing = sorted(set(expected) - set(provided))
        extra = sorted(set(provided) - set(expected))
        reasons = []
        if missing:
            reasons.append("Missing required scopes: " + ", ".join(missing))
        if extra:
            reasons.append("Extra scopes not allowed: " + ", ".join(extra))
        allowed = not reasons
        return ScopeVerdict(
            allowed, tuple(missing), tuple(extra), "All scopes are allowed" if allowed else "; ".join(reasons)
        )


def _canonical(raw: str) -> str:
    """A known scope in its canonical spelling (case-insensitive); anything else trimmed as given."""
    scope = parse_scope(raw)
    return scope.value if scope is not None else raw.strip()
