"""Throwaway certificates for TLS tests, made at test time with the openssl CLI (never committed).

Two CAs: `ca` signs the server and the trusted client; `rogue` signs a client the server must refuse.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import grpc

SERVER_NAMES = "subjectAltName=DNS:localhost,IP:127.0.0.1"
LEAF = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path

    def read(self) -> tuple[bytes, bytes]:
        """(key PEM, certificate PEM), the order grpc's credential factories take them in."""
        return self.key.read_bytes(), self.cert.read_bytes()


@dataclass(frozen=True)
class Pki:
    """Everything a TLS / mutual-TLS test needs."""

    ca: KeyPair
    server: KeyPair
    client: KeyPair
    rogue_ca: KeyPair
    rogue_client: KeyPair

    def channel_credentials(
        self, *, client: KeyPair | None = None, trust: KeyPair | None = None
    ) -> grpc.ChannelCredentials:
        """Client credentials trusting `trust` (default: the real CA), presenting `client` if given."""
        key, cert = client.read() if client is not None else (None, None)
        root = (trust or self.ca).cert.read_bytes()
        return grpc.ssl_channel_credentials(root_certificates=root, private_key=key, certificate_chain=cert)


def _openssl(*args: str | Path) -> None:
    openssl = shutil.which("openssl")
    assert openssl is not None, "the TLS tests need the openssl CLI on PATH"
    subprocess.run([openssl, *map(str, args)], check=True, capture_output=True)


def _ca(directory: Path, name: str) -> KeyPair:
    pair = KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", pair.key, "-out", pair.cert, "-days", "1", "-subj", f"/CN={name}",
    )  # fmt: skip
    return pair


def _leaf(directory: Path, name: str, ca: KeyPair, extensions: str) -> KeyPair:
    pair = KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
    csr, ext = directory / f"{name}.csr", directory / f"{name}.ext"
    ext.write_text(extensions, encoding="utf-8")
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", pair.key, "-out", csr, "-subj", f"/CN={name}",
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial",
        "-out", pair.cert, "-days", "1", "-extfile", ext,
    )  # fmt: skip
    return pair


def make_pki(directory: Path) -> Pki:
    """A fresh CA, server (localhost, 127.0.0.1), trusted client, and a rogue CA with its own client."""
    ca, rogue_ca = _ca(directory, "ca"), _ca(directory, "rogue-ca")
    return Pki(
        ca=ca,
        server=_leaf(directory, "server", ca, f"{LEAF}extendedKeyUsage=serverAuth\n{SERVER_NAMES}\n"),
        client=_leaf(directory, "client", ca, f"{LEAF}extendedKeyUsage=clientAuth\n"),
        rogue_ca=rogue_ca,
        rogue_client=_leaf(directory, "rogue-client", rogue_ca, f"{LEAF}extendedKeyUsage=clientAuth\n"),
    )
