"""The event loop a served process runs on: uvloop by default, asyncio's own when EVENT_LOOP=asyncio."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from context_service import event_loop
from context_service.config import Settings


async def loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_is_the_default() -> None:
    # Act
    settings = Settings(GRAPH_BACKEND="memory")

    # Assert
    assert settings.event_loop == "uvloop"


def test_a_coroutine_runs_on_uvloop_when_asked() -> None:
    # Act
    module = event_loop.run(loop_module(), "uvloop")

    # Assert
    assert module.startswith("uvloop")


def test_a_coroutine_runs_on_asyncio_s_own_loop_when_asked() -> None:
    # Act
    module = event_loop.run(loop_module(), "asyncio")

    # Assert
    assert module.startswith("asyncio")


def test_an_unknown_event_loop_is_refused() -> None:
    # Act / Assert
    with pytest.raises(ValidationError, match="EVENT_LOOP"):
        Settings(GRAPH_BACKEND="memory", EVENT_LOOP="trio")


def test_a_process_beside_the_service_reads_the_same_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange
    monkeypatch.setenv("EVENT_LOOP", "asyncio")

    # Act
    loop = event_loop.configured()

    # Assert
    assert loop == "asyncio"
