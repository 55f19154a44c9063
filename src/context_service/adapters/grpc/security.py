"""Server TLS / mutual TLS credentials and bearer tokens, all read from mounted files."""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import structlog

from context_service.adapters.grpc.calls import Metadata

log = structlog.get_logger()
BEARER = "bearer "


class SecurityFileError(ValueError):
    """A certificate, key or token file cannot be read; the message names the file, never its content."""


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SecurityFileError(f"{what}: cannot read {path}: {exc.strerror}") from None


def server_credentials(
    *, cert_file: Path, key_file: Path, client_ca_file: Path | None = None
) -> grpc.ServerCredentials:
    """TLS credentials; with a client CA, mutual TLS (clients must present a certificate it signed)."""
    pair = (_read(key_file, "GRPC_TLS_KEY_FILE"), _read(cert_file, "GRPC_TLS_CERT_FILE"))
    client_ca = None if client_ca_file is None else _read(client_ca_file, "GRPC_TLS_CLIENT_CA_FILE")
    return grpc.ssl_server_credentials(
        [pair], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def bearer_token(metadata: Metadata | None) -> str:
    """The token of an `authorization: Bearer <token>` header, or "" when there is none."""
    for key, value in metadata or ():
        if key.lower() == "authorization" and isinstance(value, str) and value.lower().startswith(BEARER):
            return value[len(BEARER) :].strip()
    return ""


def _parse(raw: bytes) -> tuple[bytes, ...]:
    """One token a line; blank lines and `#` comments ignored."""
    lines = (line.strip() for line in raw.splitlines())
    return tuple(line for line in lines if line and not line.startswith(b"#"))


class TokenFile:
    """Accepted bearer tokens from a file, re-read whenever the file changes (a rotated Secret)."""

    def __init__(
        self, *, path: Path, recheck_seconds: float = 1.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        """Read the file now: an unreadable file stops start-up with a clear error.

        Changes are looked for at most every `recheck_seconds`, so calls do not each stat the file.
        """
        self._path = path
        self._recheck = recheck_seconds
        self._now = monotonic
        self._checked_at = monotonic()
        self._tokens = _parse(_read(path, "GRPC_AUTH_TOKENS_FILE"))
        self._stamp = self._stat()
        self._unreadable = False
        self._warn_if_empty()

    def _stat(self) -> tuple[int, int, int]:
        # Kubernetes swaps a symlink on rotation: stat follows it, so inode or mtime changes.
        info = os.stat(self._path)
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    def _warn_if_empty(self) -> None:
        if not self._tokens:
            log.warning(
                "auth_tokens_empty", path=str(self._path), detail="every authenticated call is refused"
            )

    def _refresh(self) -> None:
        """Re-read on change; keep the last good tokens while the file is briefly missing or unreadable."""
        now = self._now()
        if now - self._checked_at < self._recheck:
            return
        self._checked_at = now
        try:
            stamp = self._stat()
            if stamp == self._stamp:
                return
            tokens = _parse(self._path.read_bytes())
        except OSError as exc:
            if not self._unreadable:  # once per outage, not once per call
                log.warning("auth_tokens_unreadable", path=str(self._path), error=exc.strerror)
            self._unreadable = True
            return
        self._stamp, self._tokens, self._unreadable = stamp, tokens, False
        log.info("auth_tokens_reloaded", path=str(self._path), count=len(tokens))
        self._warn_if_empty()

    def accepts(self, presented: str) -> bool:
        """Whether the token is one of the accepted ones (constant-time, every token compared)."""
        self._refresh()
        given = presented.encode("utf-8")
        matched = False
        for token in self._tokens:
            # No short-circuit: the time taken does not reveal which token matched.
            matched |= hmac.compare_digest(token, given)
        return matched and bool(given)
