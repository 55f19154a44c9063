"""The adoption report: counts per legacy shape and target, conflicts, orphans, values that could not map."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from context_service.domain.legacy import TARGETS, LegacyOrphan, Shape


@dataclass
class AdoptionReport:
    """What a dry run would do, or what a run did; built up batch by batch."""

    counts: Counter[Shape] = field(default_factory=Counter)
    conflicts: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    unmappable: list[str] = field(default_factory=list)
    stories: int = 0
    nodes_read: int = 0

    def count(self, shape: Shape, n: int = 1) -> None:
        """Record `n` records of a shape mapped to their target."""
        self.counts[shape] += n

    def conflict(self, message: str) -> None:
        """Two legacy records disagree; the message says which one was kept."""
        self.conflicts.append(message)

    def orphan(self, message: str) -> None:
        """A legacy record with nothing to attach to (skipped)."""
        self.orphans.append(message)

    def unmappable_value(self, message: str) -> None:
        """A value the model cannot hold as it is; the message says what was used instead."""
        self.unmappable.append(message)

    def add_orphans(self, orphans: list[LegacyOrphan]) -> None:
        """Nodes the reader found no story for."""
        for o in orphans:
            self.orphan(f"{o.shape.value} '{o.node_id}': {o.reason}")

    def as_dict(self) -> dict[str, Any]:
        """A JSON document in a stable order (the dry-run golden)."""
        return {
            "stories": self.stories,
            "legacy_nodes": self.nodes_read,
            "mapped": [
                {"legacy": shape.value, "target": TARGETS[shape], "count": self.counts[shape]}
                for shape in Shape
                if self.counts[shape]
            ],
            "conflicts": sorted(self.conflicts),
            "orphans": sorted(self.orphans),
            "unmappable": sorted(self.unmappable),
        }


def render_report(report: AdoptionReport) -> str:
    """The report as plain text: a table of legacy shape -> target with counts, then the findings."""
    rows = [
        (shape.value, TARGETS[shape], str(report.counts[shape])) for shape in Shape if report.counts[shape]
    ]
    lines = [f"stories: {report.stories}   legacy nodes read: {report.nodes_read}", ""]
    lines += table(("legacy shape", "target", "count"), rows)
    for title, items in (
        ("conflicts", report.conflicts),
        ("orphans (not adopted)", report.orphans),
        ("values that could not be mapped as they were", report.unmappable),
    ):
        lines += ["", f"{title}: {len(items)}", *(f"  - {item}" for item in sorted(items))]
    return "\n".join(lines)


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    """A plain-text table with a rule under the header; numbers right-aligned in the last column."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=False)]
        return "  ".join([*cells, row[-1].rjust(widths[-1])])

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]
