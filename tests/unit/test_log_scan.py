"""The log scan every suite runs under: what counts as a leak, and what does not."""

from __future__ import annotations

import pytest

from tests.support.log_scan import leaks


@pytest.mark.parametrize(
    "line",
    [
        '{"event": "rpc", "authorization": "Bearer abc123"}',
        "-----BEGIN EC PRIVATE KEY-----",
        "token tok-0123456789abcdef0123456789abcdef refused",
        'milestone {"description": "canary-payload-7d1e"}',
        "title=Title-MARK-5e2a",
        "auth with token-every-rpc-5be1",
    ],
)
def test_a_line_quoting_a_credential_or_payload_marker_is_a_leak(line: str) -> None:
    assert leaks([f"first line\n{line}\nlast line"]) == [line]


def test_ordinary_log_lines_are_not_leaks() -> None:
    text = "\n".join(
        [
            '{"event": "rpc", "method": "GetContext", "code": "OK", "story_id": "US-101"}',
            '{"event": "rpc_unauthenticated", "method": "UpdateContext"}',
            "token budget 1500 exceeded; bearer token missing",
        ]
    )

    assert leaks([text]) == []
