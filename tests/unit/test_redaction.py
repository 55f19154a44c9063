"""Unit tests for secret redaction in rendered prompt-context blocks."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from context_service.domain.redaction import REDACTED, REDACTED_API_KEY, apply_rules, redact

# Fake secrets are assembled here so no credential-shaped literal is committed verbatim.
FAKE_VALUE = "n0t-a-real-" + "value"
FAKE_PASSWORD = "fake" + "-Pass-" + "123"
FAKE_BEARER = "abc123" * 4
FAKE_BASIC = base64.b64encode(b"fake-user:" + FAKE_PASSWORD.encode()).decode()
FAKE_SK = "sk-" + "a1B2" * 6
FAKE_SK_PROJ = "sk-proj-" + "Zz9_-" * 5
FAKE_AWS_AKIA = "AKIA" + "A" * 16
FAKE_AWS_ASIA = "ASIA" + "Z9" * 8
FAKE_GITHUB_PAT = "github_pat_" + "A1b2_" * 5
FAKE_JWT = "eyJ" + "fakeHeader" + ".eyJ" + "fakePayload" + "." + "fakeSignature0_-"


def _github_token(prefix: str) -> str:
    """A fake classic GitHub token with the given prefix and 36 alphanumerics."""
    return prefix + "a1B2" * 9


def _pem_block(label: str) -> str:
    """A fake multi-line PEM private key block with the given label."""
    body = "\n".join(["MII" + "Fake" * 15 + "A", "Q" * 64, "ZmFrZQ=="])
    return f"-----BEGIN {label}PRIVATE KEY-----\n{body}\n-----END {label}PRIVATE KEY-----"


def _around(middle: str) -> str:
    """Embed `middle` between two lines of ordinary, non-secret context."""
    return f"## Task notes\nThe service reads its settings at startup.\n{middle}\nThen it serves requests."


SECRET_KEYS = [
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
    "secret_key",
    "db_password",
    "GITHUB_TOKEN",
    "aws_secret_access_key",
    "PASSWORD",
    "dbPassword",
]

ASSIGNMENT_FORMS = [
    pytest.param("{key}={value}", "{key}=" + REDACTED, id="equals"),
    pytest.param("{key} = {value}", "{key} = " + REDACTED, id="spaced-equals"),
    pytest.param("{key}: {value}", "{key}: " + REDACTED, id="colon"),
    pytest.param('"{key}": "{value}"', f'"{{key}}": "{REDACTED}"', id="json"),
    pytest.param("'{key}': '{value}'", f"'{{key}}': '{REDACTED}'", id="single-quoted"),
]

SHAPED_SECRETS = [
    pytest.param(FAKE_AWS_AKIA, REDACTED, id="aws-akia"),
    pytest.param(FAKE_AWS_ASIA, REDACTED, id="aws-asia"),
    *[pytest.param(_github_token(p), REDACTED, id=p) for p in ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")],
    pytest.param(FAKE_GITHUB_PAT, REDACTED, id="github-pat"),
    pytest.param(FAKE_JWT, REDACTED, id="jwt"),
    pytest.param(FAKE_SK, REDACTED_API_KEY, id="sk"),
    pytest.param(FAKE_SK_PROJ, REDACTED_API_KEY, id="sk-proj"),
]

URL_CASES = [
    pytest.param(
        f"postgres://admin:{FAKE_PASSWORD}@db.internal:5432/app",
        FAKE_PASSWORD,
        f"postgres://admin:{REDACTED}@db.internal:5432/app",
        id="postgres",
    ),
    pytest.param(
        f"https://deploy:{FAKE_PASSWORD}@git.example.com/org/repo.git",
        FAKE_PASSWORD,
        f"https://deploy:{REDACTED}@git.example.com/org/repo.git",
        id="https",
    ),
    pytest.param(
        f"redis://:{FAKE_PASSWORD}@cache:6379/0",
        FAKE_PASSWORD,
        f"redis://:{REDACTED}@cache:6379/0",
        id="no-user",
    ),
    pytest.param(
        "ftp://bob:f@ke-pw@files.example.com/",
        "f@ke-pw",
        f"ftp://bob:{REDACTED}@files.example.com/",
        id="at-in-pw",
    ),
]

AUTH_SCHEME_CASES = [
    pytest.param(
        f"Authorization: Bearer {FAKE_BEARER}", FAKE_BEARER, f"Authorization: Bearer {REDACTED}", id="bearer"
    ),
    pytest.param(
        f"authorization: bearer {FAKE_BEARER}", FAKE_BEARER, f"authorization: bearer {REDACTED}", id="lower"
    ),
    pytest.param(
        f"Authorization: Basic {FAKE_BASIC}", FAKE_BASIC, f"Authorization: Basic {REDACTED}", id="basic"
    ),
    pytest.param(f"curl -H 'BEARER {FAKE_BEARER}'", FAKE_BEARER, f"curl -H 'BEARER {REDACTED}'", id="upper"),
]

PEM_LABELS = ["", "RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED "]

NON_SECRET_TEXTS = [
    "The tokenizer splits text into tokens before counting them.",
    "The password policy must be reviewed before the release.",
    "Ask the secretary for the meeting notes.",
    "See https://example.com/path?query=1#section for details.",
    "Contact a@b.com about the outage.",
    "Run ssh deploy@host.example.com and git clone git@github.com:org/repo.git to start.",
    "Open https://host.example.com:8080/status and mail ops@example.com afterwards.",
    "Set max_tokens=4096; token_count: 12 was reported.",
    "Basic authentication and Bearer tokens are both supported.",
    "Basic JavaScript knowledge is assumed.",
    "if password == expected: return Token::new()",
    "The disk-usage-monitoring-dashboard shows every volume.",
    "Every JWT header starts with eyJ because it encodes an opening brace.",
    "AKIA marks long-term AWS access key ids and ASIA marks temporary ones.",
    'The "password" field is optional and "token" is empty: "".',
    "A story has tasks; a task has subtasks.\nEach subtask has one owner.\n\nPhases: plan, build, review.",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
@pytest.mark.parametrize(("form", "expected_form"), ASSIGNMENT_FORMS)
def test_secret_assignment_value_is_masked_and_key_kept(key: str, form: str, expected_form: str) -> None:
    raw = _around(form.format(key=key, value=FAKE_VALUE))

    result = redact(raw)

    assert FAKE_VALUE not in result
    assert result == _around(expected_form.format(key=key))


def test_json_password_value_is_masked() -> None:
    raw = '{"user": "bob", "password": "' + FAKE_PASSWORD + '", "port": 5432}'

    result = redact(raw)

    assert FAKE_PASSWORD not in result
    assert result == '{"user": "bob", "password": "' + REDACTED + '", "port": 5432}'


def test_quoted_value_with_spaces_is_masked_up_to_its_closing_quote() -> None:
    passphrase = "correct horse, battery; " + "staple"
    raw = f'secret: "{passphrase}" # rotated monthly'

    result = redact(raw)

    assert "staple" not in result
    assert "horse" not in result
    assert result == f'secret: "{REDACTED}" # rotated monthly'


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(f"password={FAKE_VALUE} next", f"password={REDACTED} next", id="whitespace"),
        pytest.param(f"password={FAKE_VALUE},next", f"password={REDACTED},next", id="comma"),
        pytest.param(f"password={FAKE_VALUE};next", f"password={REDACTED};next", id="semicolon"),
        pytest.param(f"{{password={FAKE_VALUE}}} next", f"{{password={REDACTED}}} next", id="brace"),
        pytest.param(f"'password={FAKE_VALUE}' next", f"'password={REDACTED}' next", id="quote"),
        pytest.param(f"password={FAKE_VALUE}\nnext", f"password={REDACTED}\nnext", id="line-end"),
    ],
)
def test_unquoted_value_ends_at_its_terminator(raw: str, expected: str) -> None:
    result = redact(raw)

    assert FAKE_VALUE not in result
    assert result == expected


def test_assignment_does_not_reach_into_the_next_line() -> None:
    raw = "secret:\n  name: app-credentials\n  namespace: default"

    result = redact(raw)

    assert result == raw


@pytest.mark.parametrize(("raw", "secret", "expected"), AUTH_SCHEME_CASES)
def test_auth_scheme_credential_is_masked_and_scheme_kept(raw: str, secret: str, expected: str) -> None:
    result = redact(_around(raw))

    assert secret not in result
    assert result == _around(expected)


def test_auth_scheme_inside_assignment_keeps_scheme_and_masks_credential() -> None:
    raw = "token: Bearer " + "shortish"

    result = redact(raw)

    assert "shortish" not in result
    assert result == f"token: Bearer {REDACTED}"


@pytest.mark.parametrize(("secret", "marker"), SHAPED_SECRETS)
def test_token_shaped_secret_is_replaced_by_its_marker(secret: str, marker: str) -> None:
    raw = _around(f"Use {secret} for the upload.")

    result = redact(raw)

    assert secret not in result
    assert result == _around(f"Use {marker} for the upload.")


@pytest.mark.parametrize("key", ["api_key", "OPENAI_API_KEY", '"apiKey"'])
def test_api_key_assignment_holding_sk_key_leaves_no_secret_characters(key: str) -> None:
    raw = f"{key}={FAKE_SK}"

    result = redact(raw)

    assert FAKE_SK not in result
    assert FAKE_SK[3:] not in result
    assert result == f"{key}={REDACTED_API_KEY}"


@pytest.mark.parametrize(("raw", "secret", "expected"), URL_CASES)
def test_url_password_is_masked_and_user_kept(raw: str, secret: str, expected: str) -> None:
    result = redact(_around(f"Connect with {raw} today."))

    assert secret not in result
    assert result == _around(f"Connect with {expected} today.")


def test_url_rule_does_not_cross_whitespace() -> None:
    raw = "Fetch https://example.com:8443/health then write to admin:ops@example.com now."

    result = redact(raw)

    assert result == raw


@pytest.mark.parametrize("label", PEM_LABELS)
def test_multiline_pem_private_key_block_becomes_one_marker(label: str) -> None:
    block = _pem_block(label)

    result = redact(_around(block))

    assert "MII" not in result
    assert "PRIVATE KEY" not in result
    assert result == _around(REDACTED)


def test_pem_block_in_json_string_with_escaped_newlines_is_masked() -> None:
    escaped = _pem_block("").replace("\n", "\\n")
    raw = '{"type": "service_account", "private_key": "' + escaped + '\\n", "project": "demo"}'

    result = redact(raw)

    assert "MII" not in result
    assert result == '{"type": "service_account", "private_key": "' + REDACTED + '\\n", "project": "demo"}'


def test_truncated_pem_block_loses_its_body_but_keeps_following_prose() -> None:
    truncated = _pem_block("RSA ").split("\n-----END")[0]
    raw = f"{truncated}\nThe rest of the context was cut here."

    result = redact(raw)

    assert "MII" not in result
    assert "ZmFrZQ" not in result
    assert result == f"{REDACTED}\nThe rest of the context was cut here."


@pytest.mark.parametrize("text", NON_SECRET_TEXTS)
def test_non_secret_text_is_unchanged(text: str) -> None:
    result = redact(text)

    assert result == text


def test_empty_text_is_unchanged() -> None:
    result = redact("")

    assert result == ""


@pytest.mark.parametrize(
    "raw",
    [
        f"password={REDACTED}",
        f'"token": "{REDACTED}"',
        f"token: Bearer {REDACTED}",
        f"api_key={REDACTED_API_KEY}",
        f"Authorization: Basic {REDACTED}",
        f"postgres://admin:{REDACTED}@db/app",
    ],
)
def test_already_redacted_value_is_left_unchanged(raw: str) -> None:
    result = redact(raw)

    assert result == raw


def _mixed_secret_block() -> str:
    """A context block holding one of every secret kind, between ordinary lines."""
    secrets = [
        f"db_password={FAKE_VALUE}",
        f'{{"client_secret": "{FAKE_VALUE}"}}',
        f"Authorization: Bearer {FAKE_BEARER}",
        f"OPENAI_API_KEY={FAKE_SK}",
        f"DATABASE_URL=postgres://app:{FAKE_PASSWORD}@db/app",
        f"aws_access_key_id: {FAKE_AWS_AKIA}",
        f"export GITHUB_TOKEN={_github_token('ghp_')}",
        f"jwt {FAKE_JWT}",
        _pem_block("OPENSSH "),
    ]
    return "\n".join(f"Step {n}: configure the service.\n{line}" for n, line in enumerate(secrets))


@pytest.mark.parametrize(
    "raw",
    [
        *[_around(f"{key}={FAKE_VALUE}") for key in SECRET_KEYS],
        *[case.values[0] for case in AUTH_SCHEME_CASES + URL_CASES],
        *[_around(str(case.values[0])) for case in SHAPED_SECRETS],
        _around(_pem_block("EC ")),
        _mixed_secret_block(),
        *NON_SECRET_TEXTS,
    ],
)
def test_redaction_is_idempotent(raw: str) -> None:
    once = redact(raw)

    twice = redact(once)

    assert twice == once


def test_secret_in_middle_of_multiline_block_keeps_surrounding_lines() -> None:
    raw = _mixed_secret_block()

    result = redact(raw)

    secrets = [
        FAKE_VALUE,
        FAKE_BEARER,
        FAKE_SK,
        FAKE_PASSWORD,
        FAKE_AWS_AKIA,
        _github_token("ghp_"),
        FAKE_JWT,
    ]
    assert not [secret for secret in secrets if secret in result]
    assert "PRIVATE KEY" not in result
    assert [line for line in result.splitlines() if line.startswith("Step ")] == [
        f"Step {n}: configure the service." for n in range(9)
    ]
    assert "DATABASE_URL=postgres://app:[REDACTED]@db/app" in result.splitlines()


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(("The password policy, tokenizer and https://example.com/a notes. " * 1600), id="prose"),
        pytest.param("a" * 100_000, id="one-long-word"),
        pytest.param("://" + "a:" * 50_000, id="url-colons"),
        pytest.param("://user:" + "p@" * 50_000, id="url-at-signs"),
        pytest.param("-----BEGIN PRIVATE KEY-----" + "-" * 100_000, id="pem-dashes"),
        pytest.param("eyJ" + "a." * 50_000, id="jwt-dots"),
        pytest.param("Bearer " + "a." * 50_000, id="bearer-dots"),
        pytest.param('password="' + "\\" * 100_000, id="quoted-backslashes"),
        pytest.param("token" + " " * 100_000 + "x", id="key-then-spaces"),
    ],
)
def test_large_adversarial_block_is_redacted_to_a_fixed_point(raw: str) -> None:
    # A catastrophic backtrack would hang this test; the time itself is measured by `make bench`.
    once = redact(raw)

    assert redact(once) == once


def _fragments() -> st.SearchStrategy[str]:
    """Secrets, near-misses of their triggers (other case, Unicode case folds) and plain prose, mixed."""
    secrets = [
        FAKE_SK,
        FAKE_AWS_AKIA,
        FAKE_GITHUB_PAT,
        FAKE_JWT,
        _github_token("ghp_"),
        "Bearer " + FAKE_BEARER,
    ]
    near = [
        "TOKEN=",
        "pa\u017fsword: x",
        "to\u212aen=v",
        "BASIC  ",
        "://u:",
        "@h",
        "-----BEGIN ",
        "KEY='",
        "Secret_Key := ",
        "eyj",
        "Sk-",
        "akia",
        "GHP_",
        "\n",
        " ",
        "=",
        ":",
        '"',
        "plain words",
        "Übergröße",
    ]
    return st.sampled_from([*secrets, *near])


@settings(max_examples=300, deadline=None)
@given(st.lists(_fragments(), max_size=12).map("".join))
def test_redaction_skips_only_texts_no_rule_can_match(text: str) -> None:
    # Act
    fast = redact(text)

    # Assert
    assert fast == apply_rules(text)


def test_a_text_without_any_secret_trigger_comes_back_unchanged() -> None:
    # Arrange
    text = "Implement part 3; document the change. Because the trade-off favours simplicity."

    # Act
    result = redact(text)

    # Assert
    assert result is text
