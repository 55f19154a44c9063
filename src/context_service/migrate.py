"""`context-service migrate`: the schema step, and adopting a graph the legacy service wrote.

`--adopt-legacy --dry-run` prints what adoption would do and writes nothing; `--adopt-legacy` adopts batch by
batch (resumable, idempotent) with a progress bar on stderr and a summary table on stdout; `--prune-legacy`
then deletes what only the legacy layout used, and only after a complete run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TextIO

import structlog

from context_service.adapters.cypher.graph import CypherGraph
from context_service.adapters.cypher.legacy import CypherLegacyGraph
from context_service.adapters.policy_file import load_policy
from context_service.application.adopt_legacy import AdoptionSummary, AdoptLegacy, Progress
from context_service.application.commit_step import CommitStep
from context_service.application.prune_legacy import PruneLegacy
from context_service.bootstrap import StartupError, open_adapters
from context_service.config import Settings
from context_service.domain.errors import FailedPrecondition
from context_service.domain.legacy_report import render_report, table

log = structlog.get_logger()
BAR_WIDTH = 30


@dataclass(frozen=True)
class AdoptionTools:
    """The adoption use cases wired on the configured stores."""

    adopt: AdoptLegacy
    prune: PruneLegacy


@asynccontextmanager
async def adoption_tools(settings: Settings) -> AsyncIterator[AdoptionTools]:
    """Open the configured graph and key-value stores and wire the adoption use cases on them."""
    async with open_adapters(settings) as adapters:
        graph = adapters.graph
        if not isinstance(graph, CypherGraph):
            raise StartupError("adopting a legacy graph needs GRAPH_BACKEND=neo4j or falkordb")
        legacy = CypherLegacyGraph(graph=graph)
        policy = load_policy(settings.prompt_scopes_path)
        commits = CommitStep(writer=graph, log=graph, publisher=adapters.publisher, clock=adapters.clock)
        adopt = AdoptLegacy(
            legacy=legacy,
            commits=commits,
            checkpoints=adapters.kv,
            roles=policy.normalise_role,
            clock=adapters.clock,
        )
        yield AdoptionTools(adopt, PruneLegacy(pruner=legacy, checkpoints=adapters.kv))


async def adopt_legacy(
    tools: AdoptionTools,
    *,
    dry_run: bool,
    prune: bool,
    batch_size: int,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Run the adoption (or its dry run), print the summary; 0 when complete, 1 when stories failed."""
    started = time.monotonic()
    bar = ProgressBar(err, started)
    summary = await tools.adopt.execute(dry_run=dry_run, batch_size=batch_size, progress=bar.update)
    bar.finish()
    print(render_summary(summary, time.monotonic() - started), file=out)
    if dry_run:
        return 0
    if not summary.complete:
        print("not every story was adopted: legacy nodes are kept; fix the failures and run again", file=out)
        return 1
    if prune:
        try:
            removed = await tools.prune.execute()
        except FailedPrecondition as exc:
            print(f"prune refused: {exc.message}", file=out)
            return 1
        rows = [(name, str(n)) for name, n in removed.items()] or [("(nothing left to remove)", "0")]
        print("\n".join(["", "legacy nodes pruned:", *table(("legacy shape", "removed"), rows)]), file=out)
    return 0


def render_summary(summary: AdoptionSummary, elapsed_s: float) -> str:
    """The final table: what was done, how fast, then the report of shapes, conflicts and orphans."""
    report = summary.report
    rate = report.nodes_read / elapsed_s if elapsed_s > 0 else 0.0
    rows = [
        ("mode", "dry run (nothing written)" if summary.dry_run else "adoption"),
        ("stories adopted", str(summary.adopted)),
        ("stories already adopted (unchanged)", str(summary.unchanged)),
        ("stories skipped (resumed after)", f"{summary.skipped} ({summary.resumed_after or '-'})"),
        ("stories failed", str(len(summary.failed))),
        ("batches", str(summary.batches)),
        ("legacy nodes read", str(report.nodes_read)),
        ("elapsed", f"{elapsed_s:.1f} s"),
        ("throughput", f"{rate:,.0f} nodes/s"),
    ]
    failed = ["", "failed stories:", *(f"  - {f}" for f in summary.failed)] if summary.failed else []
    return "\n".join([*table(("summary", ""), rows), *failed, "", render_report(report)])


class ProgressBar:
    """A one-line progress bar redrawn in place on stderr (plain text, no dependency)."""

    def __init__(self, stream: TextIO, started: float) -> None:
        self._stream = stream
        self._started = started
        self._drawn = False

    def update(self, progress: Progress) -> None:
        """Redraw for the stories done so far."""
        share = progress.done / progress.total if progress.total else 1.0
        filled = round(share * BAR_WIDTH)
        elapsed = max(time.monotonic() - self._started, 1e-9)
        line = (
            f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {progress.done}/{progress.total} stories, "
            f"{progress.nodes} legacy nodes, {progress.nodes / elapsed:,.0f} nodes/s"
        )
        self._stream.write(line)
        self._stream.flush()
        self._drawn = True

    def finish(self) -> None:
        """End the bar's line."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
