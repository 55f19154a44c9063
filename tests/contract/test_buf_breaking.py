"""`buf breaking` against the committed baseline rejects renamed, renumbered and retyped fields.

Each case copies specs/ and buf.yaml into a temporary workspace, mutates the copied proto and runs
the same check the Makefile runs, so the test proves the FILE rules bite and that the baseline image
lines up with the module layout (an unmodified copy must pass).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BASELINE = REPO / "specs" / "baseline" / "fleet-context-v1.binpb"
ADMIN_BASELINE = REPO / "specs" / "baseline" / "fleet-context-admin-v1.binpb"
PROTO = Path("specs") / "fleet" / "context" / "v1" / "context.proto"
ADMIN_PROTO = Path("specs") / "fleet" / "context" / "admin" / "v1" / "admin.proto"
BUF_TIMEOUT_SECONDS = 60
BUF_EXIT_BREAKING = 100  # buf's exit code for reported violations (1 would mean buf itself failed)


def _buf() -> str:
    beside_python = Path(sys.executable).parent / "buf"
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("buf")
    if found is None:
        pytest.fail("buf CLI not found beside the interpreter or on PATH; install the dev extra (buf-bin)")
    return found


def _run_breaking(workspace: Path, against: Path = BASELINE) -> subprocess.CompletedProcess[str]:
    # The input is the workspace root, not specs/: a v2 buf.yaml resolves `modules: - path: specs`
    # relative to the input, so the file paths match the baseline image (fleet/context/v1/...).
    return subprocess.run(
        [
            _buf(),
            "breaking",
            str(workspace),
            "--config",
            str(workspace / "buf.yaml"),
            "--against",
            str(against),
        ],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=BUF_TIMEOUT_SECONDS,
        check=False,
    )


def _mutate_get_context_request(workspace: Path, old: str, new: str) -> None:
    """Replace one field declaration inside `message GetContextRequest { ... }` of the copied proto."""
    proto = workspace / PROTO
    text = proto.read_text(encoding="utf-8")
    block = re.search(r"^message GetContextRequest \{\n.*?^\}", text, flags=re.MULTILINE | re.DOTALL)
    assert block is not None, "GetContextRequest not found in the copied proto"
    body = block.group(0)
    assert body.count(old) == 1, f"{old!r} must occur exactly once in GetContextRequest"
    proto.write_text(text[: block.start()] + body.replace(old, new) + text[block.end() :], encoding="utf-8")


@pytest.mark.parametrize("baseline", [BASELINE, ADMIN_BASELINE], ids=["v1", "admin-v1"])
def test_the_unmodified_contract_passes_the_breaking_check(workspace: Path, baseline: Path) -> None:
    result = _run_breaking(workspace, baseline)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_renamed_admin_field_fails_against_the_admin_baseline(workspace: Path) -> None:
    proto = workspace / ADMIN_PROTO
    text = proto.read_text(encoding="utf-8")
    assert text.count("int64 seq = 1;") == 1
    proto.write_text(text.replace("int64 seq = 1;", "int64 sequence = 1;"), encoding="utf-8")

    result = _run_breaking(workspace, ADMIN_BASELINE)

    output = result.stdout + result.stderr
    assert result.returncode == BUF_EXIT_BREAKING, output
    assert 'on message "HistoryRecord" changed name from "seq" to "sequence"' in output


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            "string story_id = 1;",
            "string storyid = 1;",
            'on message "GetContextRequest" changed name from "story_id" to "storyid"',
            id="rename-story_id",
        ),
        pytest.param(
            "string role = 2;",
            "string role = 12;",
            'field "2" with name "role" on message "GetContextRequest" was deleted',
            id="renumber-role-2-to-12",
        ),
        pytest.param(
            "int32 token_budget = 5;",
            "int64 token_budget = 5;",
            'with name "token_budget" on message "GetContextRequest" changed type from "int32" to "int64"',
            id="retype-token_budget-int32-to-int64",
        ),
    ],
)
def test_a_breaking_field_change_fails_the_check_and_names_the_field(
    workspace: Path, old: str, new: str, expected: str
) -> None:
    _mutate_get_context_request(workspace, old, new)
    result = _run_breaking(workspace)
    output = result.stdout + result.stderr
    assert result.returncode == BUF_EXIT_BREAKING, output
    assert expected in output
