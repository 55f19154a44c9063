"""Fixtures of the contract suites."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A copy of the buf workspace (buf.yaml + specs/) the Makefile checks."""
    root = tmp_path / "workspace"
    shutil.copytree(REPO / "specs", root / "specs")
    shutil.copy2(REPO / "buf.yaml", root / "buf.yaml")
    return root
