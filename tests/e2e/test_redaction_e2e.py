"""Redaction over real gRPC: secrets planted anywhere in a story never reach an agent's context (02 §2.7)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from fleet.context.v1 import context_pb2 as pb
from tests.e2e.scenario import apply_changes, change
from tests.support.harness import Service, running_service

REDACTED = "[REDACTED]"
REDACTED_API_KEY = "[REDACTED_API_KEY]"
SECRET_WORDS = [
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "api-key",
    "apikey",
    "access_key",
    "client_secret",
    "private_key",
]
FORMS = {"equals": "{k}={v}", "colon": "{k}: {v}", "json": '"{k}": "{v}"'}
# Where a secret is planted; the reader is qa in DESIGN focused on the story's task, which sees all of them.
LOCATIONS = ["story", "task", "feedback", "rationale", "metadata", "milestone", "summary"]


@dataclass(frozen=True)
class Secret:
    """A planted secret: the text written, the values that must never be served, the marker shown instead."""

    kind: str
    text: str
    values: tuple[str, ...]
    marker: str


def fake(kind: str, length: int = 24) -> str:
    """A fake credential value, unique per kind, assembled at run time."""
    return "zv" + hashlib.sha256(kind.encode()).hexdigest()[: length - 2]


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _assignment_secrets() -> list[Secret]:
    secrets = []
    for word in SECRET_WORDS:
        for form, template in FORMS.items():
            kind = f"{word}-{form}"
            value = fake(kind)
            masked = template.format(k=word, v=REDACTED)
            secrets.append(Secret(kind, template.format(k=word, v=value), (value,), masked))
    return secrets


def _shaped_secrets() -> list[Secret]:
    bearer, basic_pw, url_pw = fake("bearer", 32), fake("basic"), fake("url", 16)
    basic = base64.b64encode(f"svc-user:{basic_pw}".encode()).decode()
    sk = "sk-" + fake("sk", 32)
    aws = "AKIA" + "Q" * 16
    github = "ghp_" + "a1B2" * 9
    jwt = ".".join(
        [
            _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()),
            _b64url(b'{"sub":"fake-user"}'),
            fake("jwt"),
        ]
    )
    pem_body = ("MII" + "Fake" * 14 + "A", "Q" * 64, fake("pem", 40))
    pem = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(pem_body) + "\n-----END RSA PRIVATE KEY-----"
    return [
        Secret("bearer", f"Authorization: Bearer {bearer}", (bearer,), f"Bearer {REDACTED}"),
        Secret("basic", f"Authorization: Basic {basic}", (basic, basic_pw), f"Basic {REDACTED}"),
        Secret("sk-key", f"use {sk} for the model", (sk, sk[3:]), REDACTED_API_KEY),
        Secret(
            "url-credentials",
            f"clone https://deployer:{url_pw}@git.example.com/repo.git",
            (url_pw,),
            f"https://deployer:{REDACTED}@git.example.com/repo.git",
        ),
        Secret("aws-access-key-id", f"aws id {aws} in use", (aws, aws[4:]), REDACTED),
        Secret("github-token", f"gh {github} in use", (github, github[4:]), REDACTED),
        Secret("jwt", f"session {jwt} in use", (jwt, *jwt.split(".")[1:]), REDACTED),
        Secret("pem-private-key", pem, pem_body, REDACTED),
    ]


SECRETS = _assignment_secrets() + _shaped_secrets()
SECRET_IDS = [s.kind for s in SECRETS]
CASES = [(s, loc) for s in SECRETS for loc in LOCATIONS]
CASE_IDS = [f"{s.kind}-{loc}" for s, loc in CASES]


def planted(secret: Secret, location: str) -> str:
    """The secret between two non-secret words naming where it was planted."""
    return f"before-{location} {secret.text} after-{location}"


def story_id_of(secret: Secret) -> str:
    """One story per secret kind."""
    return f"RED-{secret.kind}"


def task_id_of(secret: Secret) -> str:
    """The story's only task."""
    return f"RED-{secret.kind}-T-1"


async def plant(svc: Service, secret: Secret) -> None:
    """Write the secret into every location through the RPCs (and the summary read-model)."""
    story_id = story_id_of(secret)
    await svc.stub.CreateStory(
        pb.CreateStoryRequest(
            story_id=story_id, title=f"Story {secret.kind}", description=planted(secret, "story")
        )
    )
    task = {
        "title": f"Task {secret.kind}",
        "description": planted(secret, "task"),
        "role": "developer",
        "council_feedback": planted(secret, "feedback"),
    }
    milestone = {"event_type": "deploy", "description": planted(secret, "milestone"), "actor": "ops"}
    await apply_changes(
        svc,
        story_id,
        change("CREATE", "SUBTASK", task_id_of(secret), task),
        change("CREATE", "MILESTONE", f"{story_id}-M-1", milestone),
    )
    await svc.stub.AddProjectDecision(
        pb.AddProjectDecisionRequest(
            story_id=story_id,
            decision_type="SECURITY",
            title=f"Decision {secret.kind}",
            rationale=planted(secret, "rationale"),
            metadata={"note": planted(secret, "metadata"), "task_ids": task_id_of(secret)},
        )
    )
    await svc.planning.put_summary(story_id, planted(secret, "summary"))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def planted_service() -> AsyncIterator[Service]:
    """One service with one story per secret kind, the secret planted in every location."""
    async with running_service() as svc:
        for secret in SECRETS:
            await plant(svc, secret)
        yield svc


async def read(svc: Service, secret: Secret) -> pb.GetContextResponse:
    """What a qa agent in DESIGN focused on the story's task is served (every location is visible)."""
    return await svc.stub.GetContext(
        pb.GetContextRequest(
            story_id=story_id_of(secret), role="qa", phase="DESIGN", subtask_id=task_id_of(secret)
        )
    )


def segment(text: str, location: str) -> str:
    """The served text between the words planted around the secret at `location`."""
    start = text.index(f"before-{location}")
    return text[start : text.index(f"after-{location}", start) + len(f"after-{location}")]


@pytest.mark.parametrize("secret", SECRETS, ids=SECRET_IDS)
async def test_secret_values_never_appear_in_the_served_context(
    planted_service: Service, secret: Secret
) -> None:
    response = await read(planted_service, secret)

    assert [v for v in secret.values if v in response.context] == []
    assert [v for v in secret.values if v in response.blocks.context] == []


@pytest.mark.parametrize(("secret", "location"), CASES, ids=CASE_IDS)
async def test_secret_is_replaced_by_its_marker_where_it_was_planted(
    planted_service: Service, secret: Secret, location: str
) -> None:
    response = await read(planted_service, secret)

    served = segment(response.blocks.context, location)
    assert secret.marker in served
    assert [v for v in secret.values if v in served] == []


@pytest.mark.parametrize(("secret", "location"), CASES, ids=CASE_IDS)
async def test_words_around_a_secret_survive_redaction(
    planted_service: Service, secret: Secret, location: str
) -> None:
    response = await read(planted_service, secret)

    served = segment(response.blocks.context, location)
    assert served.startswith(f"before-{location} ")
    assert served.endswith(f" after-{location}")


async def test_a_metadata_entry_keyed_by_a_secret_word_has_its_value_redacted(service: Service) -> None:
    value = fake("metadata-key")
    await service.stub.CreateStory(pb.CreateStoryRequest(story_id="RED-META", title="Metadata keys"))
    await service.stub.AddProjectDecision(
        pb.AddProjectDecisionRequest(
            story_id="RED-META", title="Database access", metadata={"db_password": value, "owner": "platform"}
        )
    )

    response = await service.stub.GetContext(
        pb.GetContextRequest(story_id="RED-META", role="architect", phase="DESIGN")
    )

    assert value not in response.context
    assert f"Metadata: db_password={REDACTED}; owner=platform" in response.blocks.context


async def test_non_secret_lookalikes_are_served_unchanged(service: Service) -> None:
    text = (
        "tokenizer=cl100k_base; max_tokens=4096; the secretary: Alice; Basic authentication is off; "
        "see https://docs.example.com/path?q=1 and skills sk-short"
    )
    await service.stub.CreateStory(
        pb.CreateStoryRequest(story_id="RED-PROSE", title="Prose", description=text)
    )

    response = await service.stub.GetContext(
        pb.GetContextRequest(story_id="RED-PROSE", role="architect", phase="DESIGN")
    )

    assert f"Description: {text}" in response.blocks.context
    assert REDACTED not in response.context


async def test_a_private_key_cut_by_the_summary_limit_leaks_none_of_its_body(service: Service) -> None:
    body = ["MII" + "Fake" * 14 + "A", fake("cut-pem", 64)]
    pem = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(body) + "\n-----END PRIVATE KEY-----"
    prefix = ("Session notes before the key. " * 30)[:740]
    await service.stub.CreateStory(pb.CreateStoryRequest(story_id="RED-CUT", title="Long summary"))
    await service.planning.put_summary("RED-CUT", f"{prefix} {pem} trailing words")

    response = await service.stub.GetContext(
        pb.GetContextRequest(story_id="RED-CUT", role="architect", phase="DESIGN")
    )

    served = response.blocks.context.split("Last summary:\n", 1)[1]
    assert REDACTED in served
    assert [line for line in body if line[:5] in served] == []
