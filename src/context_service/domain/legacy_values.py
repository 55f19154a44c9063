"""Reading legacy property values into the model's types; what cannot be read is reported, never guessed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from context_service.domain.legacy import Props
from context_service.domain.legacy_report import AdoptionReport
from context_service.domain.timefmt import iso_from_ms, ms_from_iso
from context_service.domain.vocabulary import Phase, parse_phase

# Legacy status words with a different name in the model.
STATUS_SYNONYMS = {"TODO": "PENDING", "OPEN": "PENDING", "NEW": "PENDING", "WIP": "IN_PROGRESS"}


@dataclass(frozen=True)
class Values:
    """Typed reads of one legacy record (`what` names it in the report)."""

    props: Props
    what: str
    report: AdoptionReport

    def text(self, *keys: str) -> str:
        """The first non-blank of `keys`, as trimmed text ('' when none)."""
        for key in keys:
            value = self.props.get(key)
            if value is not None and str(value).strip():
                return str(value).strip()
        return ""

    def status(self, key: str, default: str) -> str:
        """An upper-case status word, legacy synonyms translated."""
        word = self.text(key).upper().replace(" ", "_").replace("-", "_")
        return STATUS_SYNONYMS.get(word, word) or default

    def integer(self, key: str) -> int:
        """A whole number (ints, whole floats and numeric strings); otherwise 0, reported."""
        value = self.props.get(key)
        if value is None or value == "":
            return 0
        number = _number(value)
        if number is None or number < 0:
            self._unmappable(key, value, "a non-negative number", "0")
            return 0
        if number != int(number):
            self._unmappable(key, value, "a whole number", str(round(number)))
        return round(number)

    def ms(self, *keys: str) -> int:
        """Epoch ms from numbers, numeric strings (seconds or ms) or ISO-8601; otherwise 0, reported."""
        for key in keys:
            value = self.props.get(key)
            if value is None or value == "":
                continue
            found = epoch_ms(value)
            if found is None:
                self._unmappable(key, value, "a timestamp", "0")
                return 0
            return found
        return 0

    def iso(self, *keys: str) -> str:
        """An ISO-8601 UTC timestamp from ISO text or epoch numbers ('' when absent or unreadable)."""
        found = self.ms(*keys)
        return iso_from_ms(found) if found else ""

    def phase(self, key: str) -> str:
        """A known phase; an unknown word is reported and DESIGN is used."""
        raw = self.text(key)
        if not raw:
            return Phase.DESIGN.value
        phase = parse_phase(raw)
        if phase is None:
            self._unmappable(key, raw, "a known phase", Phase.DESIGN.value)
            return Phase.DESIGN.value
        return phase.value

    def _unmappable(self, key: str, value: Any, expected: str, used: str) -> None:
        self.report.unmappable_value(f"{self.what}: {key} {value!r} is not {expected}; stored {used}")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def epoch_ms(value: Any) -> int | None:
    """Epoch ms of a legacy timestamp: numbers below 1e11 are seconds; text may be ISO-8601."""
    number = _number(value)
    if number is None:
        return ms_from_iso(str(value)) if isinstance(value, str) else None
    if number <= 0:
        return None
    return round(number * 1000) if number < 1e11 else round(number)
