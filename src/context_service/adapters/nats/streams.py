"""The JetStream streams of 04 §4.1: created when missing; an existing one that differs is only reported."""

from __future__ import annotations

from dataclasses import dataclass

import nats.js.errors
import structlog
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig

from context_service.adapters.nats.connection import translated

log = structlog.get_logger()
DAY = 24 * 3600
# Re-sends from the outbox rely on JetStream dropping a Nats-Msg-Id it has seen within this window.
MIN_DUPLICATE_WINDOW = 120.0


@dataclass(frozen=True)
class StreamSpec:
    """What a stream must look like (nats-py expresses max_age and duplicate_window in seconds)."""

    name: str
    subjects: tuple[str, ...]
    max_age: float
    max_msgs: int
    duplicate_window: float = MIN_DUPLICATE_WINDOW

    def config(self) -> StreamConfig:
        """The nats-py configuration used to create it."""
        return StreamConfig(
            name=self.name,
            subjects=list(self.subjects),
            storage=StorageType.FILE,
            max_age=self.max_age,
            max_msgs=self.max_msgs,
            duplicate_window=self.duplicate_window,
        )

    def differences(self, actual: StreamConfig) -> list[str]:
        """Human-readable differences between this spec and an existing stream's configuration."""
        found: list[str] = []
        if sorted(actual.subjects or ()) != sorted(self.subjects):
            found.append(f"subjects are {actual.subjects}, expected {list(self.subjects)}")
        if actual.storage not in (StorageType.FILE, StorageType.FILE.value):
            found.append(f"storage is {actual.storage}, expected file")
        if not actual.max_age or float(actual.max_age) != self.max_age:
            found.append(f"max_age is {actual.max_age or 0:g}s, expected {self.max_age:g}s")
        if actual.max_msgs != self.max_msgs:
            found.append(f"max_msgs is {actual.max_msgs}, expected {self.max_msgs}")
        if float(actual.duplicate_window or 0) < MIN_DUPLICATE_WINDOW:
            found.append(f"duplicate_window is {actual.duplicate_window or 0:g}s, expected ≥ 120s")
        return [f"{self.name}: {difference}" for difference in found]


PLANNING_EVENTS = StreamSpec("PLANNING_EVENTS", ("planning.>",), max_age=30 * DAY, max_msgs=1_000_000)
ORCHESTRATOR_EVENTS = StreamSpec(
    "ORCHESTRATOR_EVENTS", ("orchestration.>",), max_age=7 * DAY, max_msgs=50_000
)
CONTEXT = StreamSpec("CONTEXT", ("context.>",), max_age=7 * DAY, max_msgs=100_000)
STREAMS = (PLANNING_EVENTS, ORCHESTRATOR_EVENTS, CONTEXT)


def stream_of(subject: str) -> str:
    """The stream that captures a subject of ours."""
    prefix = subject.split(".", 1)[0]
    for spec in STREAMS:
        if any(s.split(".", 1)[0] == prefix for s in spec.subjects):
            return spec.name
    raise ValueError(f"no stream captures subject {subject!r}")


async def ensure_streams(js: JetStreamContext, specs: tuple[StreamSpec, ...] = STREAMS) -> list[str]:
    """Create missing streams; return (and log) how existing ones differ from the spec."""
    differences: list[str] = []
    for spec in specs:
        differences += await _ensure(js, spec)
    for difference in differences:
        log.warning("nats_stream_differs", detail=difference)
    return differences


async def _ensure(js: JetStreamContext, spec: StreamSpec) -> list[str]:
    with translated("stream_info"):
        try:
            info = await js.stream_info(spec.name)
        except nats.js.errors.NotFoundError:
            info = None
    if info is not None:
        return spec.differences(info.config)
    with translated("add_stream"):
        try:
            await js.add_stream(spec.config())
        except nats.js.errors.ServiceUnavailableError:
            raise
        except nats.js.errors.APIError as exc:
            # Another replica created it first with other settings, or its subjects overlap another stream.
            return [f"{spec.name}: cannot be created: {exc.description}"]
    log.info("nats_stream_created", stream=spec.name)
    return []
