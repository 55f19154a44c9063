"""Time formatting: ISO-8601 UTC strings from epoch milliseconds and back."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_from_ms(ms: int) -> str:
    """ISO-8601 UTC with millisecond precision and a `Z` suffix."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(raw: str) -> datetime | None:
    """Parse an ISO-8601 timestamp (a trailing `Z` allowed); None when malformed or naive."""
    text = raw.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def ms_from_iso(raw: str) -> int | None:
    """Epoch milliseconds of an ISO-8601 timestamp, or None when malformed."""
    moment = parse_iso(raw)
    return None if moment is None else int(moment.timestamp() * 1000)
