"""Per-consumer message counters (labelled by durable name), on the service's metrics registry."""

from __future__ import annotations

from prometheus_client import Counter

from context_service.observability.metrics import REGISTRY

PROCESSED = Counter(
    "context_consumer_processed_total",
    "Messages whose effect was applied (or replayed) and acknowledged.",
    ("consumer",),
    registry=REGISTRY,
)
REDELIVERED = Counter(
    "context_consumer_redelivered_total",
    "Messages received again after an earlier delivery (nak, ack timeout or restart).",
    ("consumer",),
    registry=REGISTRY,
)
FAILED = Counter(
    "context_consumer_failed_total",
    "Deliveries that failed (transient ones are retried with backoff, permanent ones dead-lettered).",
    ("consumer",),
    registry=REGISTRY,
)
DEDUPLICATED = Counter(
    "context_consumer_deduplicated_total",
    "Messages acknowledged without re-applying because their idempotency key was already processed.",
    ("consumer",),
    registry=REGISTRY,
)
DEAD_LETTERED = Counter(
    "context_consumer_dead_lettered_total",
    "Messages terminated and copied to context.dlq.<subject> with the reason.",
    ("consumer",),
    registry=REGISTRY,
)
