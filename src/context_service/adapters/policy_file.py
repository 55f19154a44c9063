"""Loads the scope policy YAML (the packaged default or PROMPT_SCOPES_PATH), failing fast."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import yaml

from context_service.domain.policy import PolicyError, ScopePolicy, policy_from_document


def default_policy_text() -> str:
    """The packaged default policy (inside the wheel), else the repository's config/ copy."""
    packaged = importlib.resources.files("context_service") / "data" / "prompt_scopes.yaml"
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    repo_copy = Path(__file__).resolve().parents[3] / "config" / "prompt_scopes.yaml"
    return repo_copy.read_text(encoding="utf-8")


def load_policy(path: Path | None = None) -> ScopePolicy:
    """Parse and validate the policy; PolicyError names the file and the problem."""
    where = str(path) if path is not None else "packaged default policy"
    try:
        text = path.read_text(encoding="utf-8") if path is not None else default_policy_text()
        document = yaml.safe_load(text)
    except OSError as exc:
        raise PolicyError(f"cannot read scope policy {where}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise PolicyError(f"scope policy {where} is not UTF-8 text") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"scope policy {where} is not valid YAML: {exc}") from exc
    try:
        return policy_from_document(document)
    except PolicyError as exc:
        raise PolicyError(f"scope policy {where}: {exc}") from exc
