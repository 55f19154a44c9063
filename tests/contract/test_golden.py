"""Golden contract tests: recorded ProtoJSON request/response pairs replayed against the assembled service.

Each directory under golden/ (small, medium, large) is one scenario: a fresh service, the fixture project,
then every case file in file-name order. `UPDATE_GOLDEN=1` rewrites the recorded outcomes instead of
comparing. tests/contract/README.md describes the format, placeholders and normalisation rules.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message

from context_service.bootstrap import Adapters, memory_adapters
from fleet.context.v1 import context_pb2 as pb
from fleet.context.v1 import context_pb2_grpc
from tests.contract.fixture_project import FixtureProject, build_fixture_project
from tests.support.backends import falkordb_valkey_adapters
from tests.support.fakes import FixedClock, SequentialIds
from tests.support.harness import running_service

GOLDEN_DIR = Path(__file__).parent / "golden"
# Every backend must give byte-identical responses: the memory store, and FalkorDB with Valkey.
BACKENDS = ("memory", "falkordb+valkey")
VALKEY_DB = {"small": 1, "medium": 2, "large": 3}  # the shared key formats have no prefix to isolate by
CASES = sorted(GOLDEN_DIR.glob("*/*.json"))
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
RPCS = tuple(pb.DESCRIPTOR.services_by_name["ContextService"].methods_by_name)
OUTCOME_KEYS = ("response", "error", "trailing_metadata")

# The harness clock: every timestamp the service generates falls inside this window.
CLOCK_START_MS = 1_793_534_400_000
CLOCK_WINDOW_MS = 3_600_000
VERSION_PLACEHOLDER = "<sha256(context)[:16]>"
DECISION_ID = re.compile(r"\bDEC-([A-Z0-9]{1,4})-[0-9A-F]{6}\b")
ISO_TIMESTAMP = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})")
EPOCH_MS = re.compile(r"(?<!\d)\d{13}(?!\d)")


@dataclass
class CaseRun:
    """What one case produced live: its normalised outcome, or why it could not run."""

    case: dict[str, Any] = field(default_factory=dict)
    observed: dict[str, Any] = field(default_factory=dict)
    failure: Exception | None = None


class GoldenRuns:
    """Runs each story-size directory once per backend (fresh service, fixture, cases in file-name order).

    Every test then only compares its own case, so tests pass in any order or alone.
    """

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request
        self._runs: dict[tuple[str, Path], dict[str, CaseRun]] = {}

    async def run(self, path: Path, backend: str) -> CaseRun:
        """The run of the case stored at `path` on `backend`."""
        key = (backend, path.parent)
        if key not in self._runs:
            async with self._adapters(backend, path.parent.name) as adapters:
                self._runs[key] = await _run_directory(_load_directory(path.parent), adapters)
        return self._runs[key][path.name]

    def _adapters(self, backend: str, size: str) -> AbstractAsyncContextManager[Adapters]:
        clock, ids = FixedClock(start_ms=CLOCK_START_MS, step_ms=1), SequentialIds()
        if backend == "memory":
            return nullcontext(memory_adapters(clock=clock, ids=ids))
        return falkordb_valkey_adapters(
            falkordb=self._request.getfixturevalue("falkordb"),
            valkey=self._request.getfixturevalue("valkey"),
            valkey_db=VALKEY_DB[size],
            clock=clock,
            ids=ids,
        )


@pytest.fixture(scope="session")
def golden_runs(request: pytest.FixtureRequest) -> GoldenRuns:
    """One cache of directory runs for the whole session."""
    return GoldenRuns(request)


def _case_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def _load_directory(directory: Path) -> dict[str, CaseRun]:
    """The directory's case files in file-name order; an unreadable file fails only its own test."""
    runs = {}
    for path in sorted(directory.glob("*.json")):
        run = CaseRun()
        try:
            run.case = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            run.failure = exc
        runs[path.name] = run
    return runs


async def _run_directory(runs: dict[str, CaseRun], adapters: Adapters) -> dict[str, CaseRun]:
    """One fresh service, the fixture project, then every case in order (later cases see earlier writes)."""
    async with running_service(adapters=adapters) as service:
        project = await build_fixture_project(service.stub, service.planning_store)
        for run in runs.values():
            if run.failure is not None:
                continue
            try:
                observed = await _call(service.stub, run.case, project)
                run.observed = normalise(observed, run.case["rpc"], project.decisions)
            except Exception as exc:  # reported by this case's test; the other cases still run
                run.failure = exc
    return runs


def _request_class(rpc: str) -> type[Message]:
    method = pb.DESCRIPTOR.services_by_name["ContextService"].methods_by_name[rpc]
    message_class: type[Message] = getattr(pb, method.input_type.name)
    return message_class


def _map_strings(value: Any, change: Callable[[str], Any]) -> Any:
    """Apply `change` to every string value (not key) of a JSON document."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [_map_strings(item, change) for item in value]
    if isinstance(value, dict):
        return {key: _map_strings(item, change) for key, item in value.items()}
    return value


async def _call(
    stub: context_pb2_grpc.ContextServiceStub, case: Mapping[str, Any], project: FixtureProject
) -> dict[str, Any]:
    """Send the case's request (placeholders resolved); the response or the status, as ProtoJSON."""
    rpc = case["rpc"]
    request = json_format.ParseDict(_map_strings(case["request"], project.substitute), _request_class(rpc)())
    call = getattr(stub, rpc)(request, metadata=tuple(case.get("metadata", {}).items()))
    try:
        response = await call
    except grpc.aio.AioRpcError as exc:
        return {"error": {"code": exc.code().name, "details": exc.details()}}
    observed: dict[str, Any] = {
        "response": json_format.MessageToDict(
            response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
    }
    if rpc == "GetContext":
        trailers = await call.trailing_metadata()
        observed["trailing_metadata"] = {k: v for k, v in trailers if k.startswith("context-")}
    return observed


def _generated_ms(ms: int) -> bool:
    return CLOCK_START_MS <= ms < CLOCK_START_MS + CLOCK_WINDOW_MS


def _generated_iso(text: str) -> bool:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.tzinfo is not None and _generated_ms(int(moment.timestamp() * 1000))


def _decision_placeholders(document: Any, known: Mapping[str, str]) -> dict[str, str]:
    """Live decision id -> placeholder: fixture names where known, else numbered by first appearance."""
    names = {live: name for name, live in known.items()}
    placeholders: dict[str, str] = {}
    for match in DECISION_ID.finditer(json.dumps(document, sort_keys=True, ensure_ascii=False)):
        live, prefix = match[0], match[1]
        if live not in placeholders:
            label = names.get(live)
            number = sum(1 for p in placeholders.values() if ":" not in p) + 1
            placeholders[live] = f"<DEC-{prefix}:{label}>" if label else f"<DEC-{prefix}-{number}>"
    return placeholders


def normalise(outcome: Mapping[str, Any], rpc: str, known: Mapping[str, str]) -> dict[str, Any]:
    """Replace generated timestamps and decision ids (and a verified GetContext version) by placeholders."""
    document = copy.deepcopy(dict(outcome))
    response = document.get("response") or {}
    if rpc == "GetContext" and "context" in response:
        digest = hashlib.sha256(response["context"].encode("utf-8")).hexdigest()[:16]
        if response.get("version") == digest:
            response["version"] = VERSION_PLACEHOLDER
    placeholders = _decision_placeholders(document, known)

    def text(value: str) -> str:
        value = DECISION_ID.sub(lambda m: placeholders[m[0]], value)
        value = ISO_TIMESTAMP.sub(lambda m: "<ts>" if _generated_iso(m[0]) else m[0], value)
        return EPOCH_MS.sub(lambda m: "<ts-ms>" if _generated_ms(int(m[0])) else m[0], value)

    normalised: dict[str, Any] = _map_strings(document, text)
    return normalised


def _recorded(golden: Mapping[str, Any]) -> dict[str, Any]:
    return {key: golden[key] for key in OUTCOME_KEYS if key in golden}


def _canonical(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _diff(expected: Mapping[str, Any], observed: Mapping[str, Any], limit: int = 80) -> str:
    """A unified diff of golden vs live, multi-line strings split into lines so the changed line shows."""

    def lines(document: Mapping[str, Any]) -> list[str]:
        split = _map_strings(document, lambda s: s.split("\n") if "\n" in s else s)
        return _canonical(split).splitlines()

    diff = list(difflib.unified_diff(lines(expected), lines(observed), "golden", "live", lineterm=""))
    more = [f"... {len(diff) - limit} more diff lines"] if len(diff) > limit else []
    return "\n".join(diff[:limit] + more)


def _rewrite(path: Path, case: Mapping[str, Any], observed: Mapping[str, Any]) -> None:
    """Store the case with its fresh outcome; the request is kept as written (placeholders unresolved)."""
    request = json_format.ParseDict(case["request"], _request_class(case["rpc"])())
    kept = {key: case[key] for key in ("about", "metadata") if key in case}
    record = {
        **kept,
        "rpc": case["rpc"],
        "request": json_format.MessageToDict(request, preserving_proto_field_name=True),
        **observed,
    }
    path.write_text(_canonical(record), encoding="utf-8")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("path", CASES, ids=[_case_id(p) for p in CASES])
async def test_golden_case_matches_recorded_response(
    path: Path, backend: str, golden_runs: GoldenRuns
) -> None:
    if UPDATE and backend != "memory":
        pytest.skip("goldens are recorded on the memory backend; the others must match them")
    run = await golden_runs.run(path, backend)
    if run.failure is not None:
        raise run.failure

    if UPDATE:
        _rewrite(path, run.case, run.observed)
        return
    recorded = _recorded(run.case)
    assert recorded, f"{_case_id(path)} has no recorded outcome; run with UPDATE_GOLDEN=1 and review the diff"
    expected = normalise(recorded, run.case["rpc"], {})

    assert run.observed == expected, (
        f"{_case_id(path)} differs from its golden (intended? rerun with UPDATE_GOLDEN=1 and review the "
        f"golden diff like code):\n{_diff(expected, run.observed)}"
    )


@pytest.mark.parametrize("size", ["small", "medium", "large"])
def test_every_rpc_has_golden_cases_for_each_story_size(size: str) -> None:
    cases = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((GOLDEN_DIR / size).glob("*.json"))]

    covered = {case["rpc"] for case in cases}

    assert covered == set(RPCS)


@pytest.mark.skipif(UPDATE, reason="the files are being rewritten in canonical form")
def test_golden_files_are_stored_in_canonical_form() -> None:
    stored = {_case_id(p): p.read_text(encoding="utf-8") for p in CASES}

    not_canonical = [case for case, text in stored.items() if text != _canonical(json.loads(text))]

    assert not not_canonical, "golden files are pretty JSON, sorted keys, 2-space indent, final newline"
