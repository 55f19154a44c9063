"""Fixtures shared by every suite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.harness import Service, running_service

pytest_plugins = ["tests.support.servers", "tests.support.spans", "tests.support.log_scan"]


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    """A fresh service (in-memory backend, fixed clock, sequential ids) per test."""
    async with running_service() as svc:
        yield svc
