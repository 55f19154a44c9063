"""Masks secrets in a rendered prompt-context block before it is handed to an agent."""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import pairwise

REDACTED = "[REDACTED]"
REDACTED_API_KEY = "[REDACTED_API_KEY]"

# The patterns run over ~100 KB on every request, so each one is linear: no nested
# quantifiers that can match the same characters two ways, and possessive loops where
# a failed match would otherwise backtrack. Token patterns start with a literal so the
# engine can jump between candidates with a substring search; their word boundary is a
# lookbehind placed after the literal, because a leading `\b` disables that search.

# A private key block, from BEGIN to the END line with the same label. The body is
# "anything but five dashes", so a match never runs past the block's own END line.
# A block cut off before its END (a truncated context) still loses its base64 body
# lines, so a partial key never leaks, while the prose after it survives.
_PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]{0,40}?)PRIVATE KEY(?P<tail>(?: BLOCK)?)-----"
    r"(?:[^-]*+(?:-(?!----)[^-]*+)*+-----END (?P=label)PRIVATE KEY(?P=tail)-----"
    r"|(?:[ \t]*+(?:\r?\n|\\n)[A-Za-z0-9+/=]++(?=[ \t]*+(?:\r?\n|\\n|\"|\Z)))*+)"
)

# A JWT: base64url header, payload and signature; every header starts `{"` = `eyJ`.
_JWT = re.compile(r"eyJ(?<!\weyJ)[A-Za-z0-9_-]++\.[A-Za-z0-9_-]++\.[A-Za-z0-9_-]++")

# AWS access key ids: long-term (AKIA) and temporary (ASIA) credentials.
_AWS_ACCESS_KEY_ID = re.compile(r"A[KS]IA(?<!\wA[KS]IA)[A-Z0-9]{16}\b")

# GitHub tokens: classic (ghp_/gho_/ghu_/ghs_/ghr_) and fine-grained (github_pat_).
_GITHUB_TOKEN = re.compile(r"g(?<!\wg)(?:h[pousr]_[A-Za-z0-9]{36,}+|ithub_pat_[A-Za-z0-9_]{22,}+)")

# OpenAI-style keys (`sk-...`, `sk-proj-...`); they get their own marker so a reader
# of the context can tell an API key was there.
_SK_API_KEY = re.compile(r"sk-(?<!\wsk-)[A-Za-z0-9_-]{16,}+")

# `scheme://user:password@host`: the match starts at `://` (a cheap literal) and stops
# at whitespace, quotes or a path/query/fragment delimiter, so it never spans words.
# The password may itself contain `@`; the greedy run backs off to the last `@`.
_URL_CREDENTIALS = re.compile(r"(?P<head>://[^\s:/?#@\"'<>]*+:)(?P<password>[^\s/?#\"'<>]+)(?=@)")

# `Bearer <cred>` / `Basic <cred>`; a trailing `.` is left alone as sentence punctuation.
_AUTH_SCHEME = re.compile(
    r"(?=[Bb])\b(?P<scheme>bearer|basic)(?P<gap>[ \t]++)"
    r"(?P<credential>[A-Za-z0-9._~+/-]{7,}[A-Za-z0-9_~+/-]=*+)",
    re.IGNORECASE,
)

# `key=value`, `key: value`, `"key": "value"`. The match starts at the secret word,
# so any prefix (`db_`, `GITHUB_`, `client`) is kept as is and camelCase keys count;
# the word must end the key, which spares `tokenizer`, `max_tokens`, `secretary`.
# Separators are `=`, `:` or `:=` but not `==` or `::`, which are code, not assignments.
# A value already masked (possibly behind `Bearer `) is skipped to stay idempotent.
# The leading lookahead is a cheap first-character filter: case-insensitive matching
# otherwise tries the whole alternation at every position of the text.
_ASSIGNMENT = re.compile(
    r"(?=[PpSsTtAa])(?P<head>(?:pass(?:word|wd)|secret(?:[_-]?key)?|token|(?:api|access|private)[_-]?key)"
    r"[\"']?[ \t]*+(?::=|[:=](?![:=]))[ \t]*+)"
    r"(?![\"']?(?:(?:bearer|basic)[ \t]++)?\[REDACTED)"
    r"(?:(?P<dquote>\")(?:[^\"\\\n]|\\.)++"
    r"|(?P<squote>')(?:[^'\\\n]|\\.)++"
    r"|(?P<scheme>(?:bearer|basic)[ \t]++)?[^\s,;\"'}]++)",
    re.IGNORECASE,
)


def _looks_like_credential(candidate: str) -> bool:
    """Tell a credential from a prose word that happens to follow "Bearer" or "Basic"."""
    # Prose after these words ("Basic authentication", "Bearer JavaScript") is letters
    # with at most a couple of case changes; tokens and base64 have digits, symbols,
    # frequent case changes or sheer length.
    if len(candidate) >= 32 or any(char.isdigit() or char in "+/=~" for char in candidate):
        return True
    case_changes = sum(1 for left, right in pairwise(candidate) if left.isupper() != right.isupper())
    return case_changes >= 4


def _mask_auth_scheme(match: re.Match[str]) -> str:
    """Mask the credential after an auth scheme word, keeping the word itself."""
    if not _looks_like_credential(match["credential"]):
        return match[0]
    return f"{match['scheme']}{match['gap']}{REDACTED}"


def _mask_assignment(match: re.Match[str]) -> str:
    """Mask an assigned value, keeping the key, separator, opening quote and scheme word."""
    # The closing quote is outside the match, so `"k": "v"` becomes `"k": "[REDACTED]"`.
    kept = match["dquote"] or match["squote"] or match["scheme"] or ""
    return f"{match['head']}{kept}{REDACTED}"


# Order matters: whole-token shapes first, so `api_key=sk-...` or `token: eyJ...` are
# masked by their shape, and the assignment rule then sees a marker and skips it.
_RULES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (_PEM_PRIVATE_KEY, REDACTED),
    (_JWT, REDACTED),
    (_AWS_ACCESS_KEY_ID, REDACTED),
    (_GITHUB_TOKEN, REDACTED),
    (_SK_API_KEY, REDACTED_API_KEY),
    (_URL_CREDENTIALS, rf"\g<head>{REDACTED}"),
    (_AUTH_SCHEME, _mask_auth_scheme),
    (_ASSIGNMENT, _mask_assignment),
)


# A literal that every rule's match contains, lower-cased. Most texts (titles, descriptions, whole sections of
# them) contain none, and a few substring searches cost far less than the rules' scans. Only ASCII texts are
# checked this way: there `str.lower` folds case exactly as the rules' IGNORECASE does, while Unicode folds
# (the Kelvin sign matches `k`) are left to the rules themselves.
_TRIGGERS = (
    "-----begin", "eyj", "akia", "asia", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "sk-", "://",
    "bearer", "basic", "pass", "secret", "token", "key",
)  # fmt: skip


def redact(text: str) -> str:
    """Return `text` with every recognised secret replaced by a redaction marker."""
    if text.isascii():
        folded = text.lower()
        if not any(trigger in folded for trigger in _TRIGGERS):
            return text
    return apply_rules(text)


def apply_rules(text: str) -> str:
    """Every rule over `text`, in order (what `redact` does to a text that may hold a secret)."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text
