"""The scope policy: which sections each role may see in each phase."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from context_service.domain.errors import FailedPrecondition, InvalidArgument
from context_service.domain.vocabulary import DEFAULT_ROLE_ALIASES, Phase, Scope, parse_phase, parse_scope

DEFAULT_TOOLS_TEXT = "You may call tools approved for your role when necessary."


class PolicyError(ValueError):
    """The policy document is malformed; startup must stop."""


@dataclass(frozen=True)
class ScopePolicy:
    """Granted scopes per (phase, role), role aliases and per-role tool lists."""

    grants: Mapping[tuple[Phase, str], tuple[Scope, ...]]
    roles: frozenset[str]
    aliases: Mapping[str, str] = field(default_factory=dict)
    tools: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def normalise_role(self, raw: str) -> str | None:
        """Canonical role name for `raw` (trimmed, case-insensitive, aliases), or None if unknown."""
        key = raw.strip()
        alias = self.aliases.get(key.upper())
        if alias is not None:
            return alias
        lowered = key.lower()
        return lowered if lowered in self.roles else None

    def require_role(self, raw: str, *, field_name: str = "role") -> str:
        """Canonical role name, or INVALID_ARGUMENT naming the known roles."""
        if not raw.strip():
            raise InvalidArgument(f"{field_name} is required", field=field_name)
        role = self.normalise_role(raw)
        if role is None:
            known = ", ".join(sorted(self.roles))
            raise InvalidArgument(f"unknown role '{raw.strip()}'; known roles: {known}", field=field_name)
        return role

    def scopes_for(self, role: str, phase: Phase) -> tuple[Scope, ...] | None:
        """Granted scopes in policy order, or None when the pair has no entry."""
        return self.grants.get((phase, role))

    def require_scopes(self, role: str, phase: Phase) -> tuple[Scope, ...]:
        """Granted scopes, or FAILED_PRECONDITION when the pair has no policy."""
        scopes = self.scopes_for(role, phase)
        if scopes is None:
            raise FailedPrecondition(f"no scope policy for role '{role}' in phase {phase.value}")
        return scopes

    def tools_text(self, role: str) -> str:
        """The tools block for a role: its listed tools, or the default sentence."""
        listed = self.tools.get(role)
        if not listed:
            return DEFAULT_TOOLS_TEXT
        return "You may call these tools approved for your role when necessary: " + ", ".join(listed) + "."


def policy_from_document(doc: Any) -> ScopePolicy:
    """Build a policy from the parsed YAML document; raise PolicyError naming what is wrong."""
    if not isinstance(doc, Mapping):
        raise PolicyError("policy must be a mapping with a 'phases' key")
    phases = doc.get("phases")
    if not isinstance(phases, Mapping) or not phases:
        raise PolicyError("policy needs a non-empty 'phases' mapping of phase -> role -> [scopes]")
    grants: dict[tuple[Phase, str], tuple[Scope, ...]] = {}
    roles: set[str] = set()
    for raw_phase, by_role in phases.items():
        phase = parse_phase(str(raw_phase))
        if phase is None:
            raise PolicyError(f"unknown phase '{raw_phase}' in policy")
        if not isinstance(by_role, Mapping):
            raise PolicyError(f"phase {raw_phase}: expected a mapping of role -> [scopes]")
        for raw_role, raw_scopes in by_role.items():
            role = str(raw_role).strip().lower()
            grants[(phase, role)] = _scopes(phase, role, raw_scopes)
            roles.add(role)
    roles.update(_list_of_strings(doc.get("roles", []), "roles"))
    aliases = _aliases(doc.get("aliases"), roles)
    tools = _tools(doc.get("tools"))
    return ScopePolicy(grants=grants, roles=frozenset(roles), aliases=aliases, tools=tools)


def _scopes(phase: Phase, role: str, raw: Any) -> tuple[Scope, ...]:
    items = _list_of_strings(raw, f"{phase.value}.{role}")
    scopes: list[Scope] = []
    for item in items:
        scope = parse_scope(item)
        if scope is None:
            raise PolicyError(f"{phase.value}.{role}: unknown scope '{item}'")
        if scope not in scopes:
            scopes.append(scope)
    return tuple(scopes)


def _aliases(raw: Any, roles: set[str]) -> dict[str, str]:
    merged = {k: v for k, v in DEFAULT_ROLE_ALIASES.items() if v in roles}
    if raw is None:
        return merged
    if not isinstance(raw, Mapping):
        raise PolicyError("'aliases' must be a mapping of alias -> role")
    for alias, target in raw.items():
        canonical = str(target).strip().lower()
        if canonical not in roles:
            raise PolicyError(f"alias '{alias}' points at unknown role '{target}'")
        merged[str(alias).strip().upper()] = canonical
    return merged


def _tools(raw: Any) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise PolicyError("'tools' must be a mapping of role -> [tool names]")
    return {str(role).strip().lower(): tuple(_list_of_strings(v, f"tools.{role}")) for role, v in raw.items()}


def _list_of_strings(raw: Any, where: str) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise PolicyError(f"{where}: expected a list of strings")
    return [x.strip() for x in raw]
