"""No secret, token or payload text in any log of any suite (a pytest plugin, loaded by tests/conftest.py).

Two places hold what the services log during a run: each test's captured output (the in-process services log
to stdout and the logging module; pytest keeps both per test phase), and the files the served processes and
the local stores write under the session's temporary directory. The first is scanned as each test's report
is made (a leak fails that test); the second once, when the session ends (a leak fails the session).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

# The secrets and payload markers the suites send, and the shapes any credential has.
SECRET = re.compile(
    "|".join(
        [
            r"Bearer\s+\S",  # an authorization header's value
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----",  # key material
            r"\btok-[0-9a-f]{32}\b",  # the fault runs' random tokens
            r"canary-payload-[0-9a-f]{4}",  # the load's and the NATS fuzzer's payload text
            r"-MARK-[0-9a-f]{4}",  # payload text of the log tests
            *map(
                re.escape,
                [
                    "token-alpha-3f9c2e",
                    "token-beta-81d0aa",
                    "tok-SECRET-4a1b9e",
                    "tok-WRONG-77c0d1",
                    "session-token-0123456789",
                    "token-every-rpc-5be1",
                    "token-admin-5be1",
                ],
            ),
        ]
    )
)
LOG_FILES = ("*.jsonl", "*.log")
SHOWN = 5


def leaks(texts: Iterable[str]) -> list[str]:
    """The lines of `texts` that quote a secret, a token or payload text."""
    return [line[:300] for text in texts for line in text.splitlines() if SECRET.search(line)]


def _log_files(root: Path) -> Iterator[Path]:
    for pattern in LOG_FILES:
        yield from (path for path in root.rglob(pattern) if path.is_file())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Fail a test whose captured output (its services' logs) quotes a secret."""
    report: pytest.TestReport = yield  # type: ignore[misc]
    # Sections accumulate over the phases: scan only this phase's ("Captured stdout call", …).
    phase = [
        text for name, text in report.sections if name.startswith("Captured") and name.endswith(call.when)
    ]
    found = leaks(phase)
    if found and report.passed:
        report.outcome = "failed"
        report.longrepr = "log lines quoting a secret, token or payload text:\n" + "\n".join(found[:SHOWN])
    return report  # type: ignore[return-value]


def _captured_in(section: str, phase: str) -> bool:
    return section.startswith("Captured") and section.endswith(phase)


@pytest.fixture(scope="session", autouse=True)
def scanned_log_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the session: no log file a served process or a store wrote quotes a secret."""
    yield
    root = tmp_path_factory.getbasetemp()
    found = [f"{path.relative_to(root)}: {line}" for path in _log_files(root) for line in _file_leaks(path)]
    assert not found, "log files quoting a secret, token or payload text:\n" + "\n".join(found[:SHOWN])


def _file_leaks(path: Path) -> list[str]:
    return leaks([path.read_text(encoding="utf-8", errors="replace")])
