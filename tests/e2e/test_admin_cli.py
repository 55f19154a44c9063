"""`context-service history | export | import` against a running, token-protected server."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from context_service.adapters.grpc.interceptors import TokenAuthInterceptor
from context_service.adapters.grpc.security import TokenFile, server_credentials
from context_service.cli import main
from fleet.context.v1 import context_pb2 as pb
from tests.e2e.builders import STORY_ID, change, update_request
from tests.support.harness import Service, running_service
from tests.support.tls import make_pki

TOKEN = "token-admin-5be1"
AUTH = (("authorization", f"Bearer {TOKEN}"),)
LOG_LINE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \[")
MILESTONE = {"event_type": "review", "description": "Design review passed"}


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    """The accepted token, which the CLI presents too."""
    path = tmp_path / "token"
    path.write_text(f"{TOKEN}\n", encoding="utf-8")
    return path


async def guarded_service(token_file: Path) -> AsyncIterator[Service]:
    """A service requiring the token, holding a story with three recorded changes."""
    auth = TokenAuthInterceptor(tokens=TokenFile(path=token_file, recheck_seconds=0))
    async with running_service(interceptors=[auth]) as service:
        await service.stub.CreateStory(pb.CreateStoryRequest(story_id=STORY_ID, title="Login"), metadata=AUTH)
        for milestone_id in ("M-1", "M-2", "M-1"):
            request = update_request(change("CREATE", "MILESTONE", milestone_id, MILESTONE, reason="plan"))
            await service.stub.UpdateContext(request, metadata=AUTH)
        yield service


@pytest.fixture
async def guarded(token_file: Path) -> AsyncIterator[Service]:
    """See `guarded_service`."""
    async for service in guarded_service(token_file):
        yield service


async def cli(service: Service, *args: str, token_file: Path | None = None) -> int:
    """Run the CLI against the service in a worker thread (the server keeps serving on this loop)."""
    argv = [*args, "--address", f"127.0.0.1:{service.server.port}"]
    if token_file is not None:
        argv += ["--token-file", str(token_file)]
    return await asyncio.to_thread(main, argv)


def printed(capsys: pytest.CaptureFixture[str]) -> str:
    """What the CLI printed to stdout, without the in-process server's log lines."""
    lines = capsys.readouterr().out.splitlines(keepends=True)
    return "".join(line for line in lines if not LOG_LINE.match(line))


async def test_history_prints_a_table_newest_first(
    guarded: Service, token_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await cli(guarded, "history", STORY_ID, token_file=token_file)

    lines = printed(capsys).splitlines()
    assert status == 0
    assert lines[0].split()[:6] == ["SEQ", "VERSION", "TIMESTAMP", "OPERATION", "ENTITY_TYPE", "ENTITY_ID"]
    assert [line.split()[0] for line in lines[1:]] == ["4", "3", "2", "1"]


async def test_history_json_for_one_entity_with_a_limit(
    guarded: Service, token_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await cli(
        guarded, "history", STORY_ID, "--entity", "M-1", "--limit", "1", "--json", token_file=token_file
    )

    records = json.loads(printed(capsys))
    assert status == 0
    assert [(r["seq"], r["entity_id"], r["operation"]) for r in records] == [("4", "M-1", "CREATE")]


async def test_without_the_token_the_call_is_refused_with_its_status(
    guarded: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await cli(guarded, "history", STORY_ID)

    assert status == 1
    assert capsys.readouterr().err.startswith("UNAUTHENTICATED")


async def test_export_to_a_file_then_import_elsewhere_gives_the_same_document(
    guarded: Service, token_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "story.json"
    exported = await cli(guarded, "export", STORY_ID, "-o", str(path), token_file=token_file)
    async with running_service() as target:
        imported = await cli(target, "import", str(path))
        again = await cli(target, "export", STORY_ID)

    out = printed(capsys)
    assert (exported, imported, again) == (0, 0, 0)
    assert json.loads(out[: out.index("}\n") + 1])["history_records"] == 4
    assert out.rstrip("\n").endswith(path.read_text(encoding="utf-8"))


async def test_import_of_an_existing_story_needs_replace(
    guarded: Service, token_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "story.json"
    await cli(guarded, "export", STORY_ID, "-o", str(path), token_file=token_file)

    refused = await cli(guarded, "import", str(path), token_file=token_file)
    replaced = await cli(guarded, "import", str(path), "--replace", token_file=token_file)

    assert (refused, replaced) == (1, 0)
    assert "ALREADY_EXISTS" in capsys.readouterr().err


async def test_import_of_a_malformed_file_names_the_problem(
    guarded: Service, token_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"format": "fleet.context.story-snapshot", "format_version": 1', encoding="utf-8")

    status = await cli(guarded, "import", str(path), token_file=token_file)

    assert status == 1
    assert capsys.readouterr().err.startswith("INVALID_ARGUMENT: document_json is not valid JSON")


async def test_a_missing_document_file_is_a_clear_error(
    guarded: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await cli(guarded, "import", "/nonexistent/story.json")

    assert status == 2
    assert "/nonexistent/story.json" in capsys.readouterr().err


async def test_export_over_mutual_tls_with_the_client_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pki = make_pki(tmp_path)
    credentials = server_credentials(
        cert_file=pki.server.cert, key_file=pki.server.key, client_ca_file=pki.ca.cert
    )
    async with running_service(
        credentials=credentials, channel_credentials=pki.channel_credentials(client=pki.client)
    ) as service:
        await service.stub.CreateStory(pb.CreateStoryRequest(story_id=STORY_ID, title="Login"))
        tls = [
            "--tls-ca",
            str(pki.ca.cert),
            "--tls-cert",
            str(pki.client.cert),
            "--tls-key",
            str(pki.client.key),
        ]
        status = await cli(service, "export", STORY_ID, *tls)

    assert status == 0
    assert json.loads(printed(capsys))["story_id"] == STORY_ID
