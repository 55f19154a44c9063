"""Goldens of an adopted legacy database: the dry-run report, then the RPCs that serve the adopted stories.

The legacy fixture (tests/support/legacy_graph.py) is written with raw Cypher on FalkorDB (the memory store
cannot hold the legacy layout), a dry run records its report, a real run adopts it, and every case file under
adoption/ runs in file-name order against the service on that graph. Same case format and normalisation as
the other goldens (tests/contract/README.md); `UPDATE_GOLDEN=1` rewrites the recorded outcomes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from context_service.adapters.cypher.graph import CypherGraph
from tests.contract.fixture_project import FixtureProject
from tests.contract.test_golden import (
    CLOCK_START_MS,
    UPDATE,
    CaseRun,
    _call,
    _canonical,
    _diff,
    _recorded,
    _rewrite,
    normalise,
)
from tests.support.adoption import adoption
from tests.support.backends import falkordb_valkey_adapters
from tests.support.fakes import FixedClock, SequentialIds
from tests.support.harness import running_service
from tests.support.legacy_fixture import fixture_graph

ADOPTION_DIR = Path(__file__).parent / "adoption"
REPORT = ADOPTION_DIR / "dry-run-report.json"
CASES = sorted(ADOPTION_DIR.glob("[0-9]*.json"))
VALKEY_DB = 4  # the story-size goldens use 1-3


class AdoptionRun:
    """One adoption of the legacy fixture per session: its dry-run report and every case's outcome."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request
        self.report: dict[str, Any] = {}
        self.cases: dict[str, CaseRun] | None = None

    async def run(self) -> dict[str, CaseRun]:
        """Adopt the fixture and run the cases (once)."""
        if self.cases is None:
            self.cases = {p.name: CaseRun(case=json.loads(p.read_text(encoding="utf-8"))) for p in CASES}
            await self._adopt_and_call(self.cases)
        return self.cases

    async def _adopt_and_call(self, runs: dict[str, CaseRun]) -> None:
        clock = FixedClock(start_ms=CLOCK_START_MS, step_ms=1)
        async with falkordb_valkey_adapters(
            falkordb=self._request.getfixturevalue("falkordb"),
            valkey=self._request.getfixturevalue("valkey"),
            valkey_db=VALKEY_DB,
            clock=clock,
            ids=SequentialIds(),
        ) as adapters:
            graph = adapters.graph
            assert isinstance(graph, CypherGraph)
            await fixture_graph().write(graph)
            use = adoption(graph, adapters.kv, clock)
            self.report = (await use.execute(dry_run=True, batch_size=2)).report.as_dict()
            await use.execute(dry_run=False, batch_size=2)
            async with running_service(adapters=adapters) as service:
                for run in runs.values():
                    try:
                        observed = await _call(service.stub, run.case, FixtureProject())
                        run.observed = normalise(observed, run.case["rpc"], {})
                    except Exception as exc:  # reported by this case's test; the other cases still run
                        run.failure = exc


@pytest.fixture(scope="session")
def adoption_run(request: pytest.FixtureRequest) -> AdoptionRun:
    """The session's adoption of the legacy fixture."""
    return AdoptionRun(request)


async def test_the_dry_run_report_of_the_legacy_fixture_matches_its_golden(adoption_run: AdoptionRun) -> None:
    await adoption_run.run()

    if UPDATE:
        REPORT.write_text(_canonical(adoption_run.report), encoding="utf-8")
        return
    expected = json.loads(REPORT.read_text(encoding="utf-8"))
    assert adoption_run.report == expected, f"dry-run report differs:\n{_diff(expected, adoption_run.report)}"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
async def test_an_adopted_story_is_served_as_recorded(path: Path, adoption_run: AdoptionRun) -> None:
    run = (await adoption_run.run())[path.name]
    if run.failure is not None:
        raise run.failure

    if UPDATE:
        _rewrite(path, run.case, run.observed)
        return
    expected = normalise(_recorded(run.case), run.case["rpc"], {})
    difference = _diff(expected, run.observed)
    assert run.observed == expected, f"adoption/{path.stem} differs from its golden:\n{difference}"
