"""Input limits and the shared checks for ids (02 §2.8)."""

from __future__ import annotations

from context_service.domain.errors import InvalidArgument
from context_service.domain.text import check_id, check_text

MAX_ID_LENGTH = 256
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_CHANGES = 1000
MAX_ROLES = 20
MAX_TEXT_LENGTH = 64 * 1024
MAX_METADATA_ENTRIES = 100


def require_id(value: str, field_name: str) -> str:
    """A trimmed, non-blank id of at most 256 characters, without control characters."""
    ident = check_id(value.strip(), field_name)
    if not ident:
        raise InvalidArgument(f"{field_name} is required", field=field_name)
    if len(ident) > MAX_ID_LENGTH:
        raise InvalidArgument(f"{field_name} exceeds {MAX_ID_LENGTH} characters", field=field_name)
    return ident


def optional_id(value: str, field_name: str) -> str:
    """A trimmed id that may be empty, at most 256 characters."""
    return require_id(value, field_name) if value.strip() else ""


def require_non_negative(value: int | None, field_name: str) -> None:
    """INVALID_ARGUMENT naming the field when a count is negative (an absent one passes)."""
    if value is not None and value < 0:
        raise InvalidArgument(f"{field_name} must not be negative", field=field_name)


def require_text(value: str, field_name: str) -> str:
    """A trimmed, non-blank text field within the text limit."""
    text = limit_text(value, field_name).strip()
    if not text:
        raise InvalidArgument(f"{field_name} is required", field=field_name)
    return text


def limit_text(value: str, field_name: str) -> str:
    """Reject free text over the text limit or with characters no store can keep."""
    check_text(value, field_name)
    if len(value) > MAX_TEXT_LENGTH:
        raise InvalidArgument(f"{field_name} exceeds {MAX_TEXT_LENGTH} characters", field=field_name)
    return value
