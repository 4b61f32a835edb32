"""TLS for capture: contexts, and what a server presented (RFC 8446 / RFC 5246 handshakes).

Python 3.11 exposes only the peer's leaf certificate publicly. The chain as sent (wire
order) and the verified path come from the private ``_sslobj`` accessors, used in exactly
one function, ``peer_chains``; ``tests/test_tls.py`` fails loudly if they disappear.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import certifi


@dataclass(frozen=True)
class TlsInfo:
    """What a TLS handshake established, as recorded in a capture's metadata record."""

    version: str
    cipher: str
    server_name: str
    chain_sent_pem: tuple[str, ...]
    verified_path_pem: tuple[str, ...]
    trust_store: str
    verified: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "cipher": self.cipher,
            "serverName": self.server_name,
            "chainSent": list(self.chain_sent_pem),
            "verifiedPath": list(self.verified_path_pem),
            "trustStore": self.trust_store,
            "verified": self.verified,
        }


def client_context(ca_file: Path | None = None, *, insecure: bool = False) -> tuple[
    ssl.SSLContext, str
]:
    """A client context and a description of its trust store (certifi, or ``ca_file``)."""
    cafile = str(ca_file) if ca_file else certifi.where()
    context = ssl.create_default_context(cafile=cafile)
    context.set_alpn_protocols(["http/1.1"])
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    store = f"file:{ca_file.name}" if ca_file else f"certifi {certifi.__version__}"
    if insecure:
        store += " (verification disabled: --insecure-skip-tls-verify)"
    return context, store


def peer_chains(ssl_object: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(chain as sent by the server, verified path), each as PEM strings, leaf first."""
    inner = ssl_object._sslobj
    sent = inner.get_unverified_chain() or []
    verified = inner.get_verified_chain() or []
    return tuple(_pem(c) for c in sent), tuple(_pem(c) for c in verified)


def _pem(certificate: Any) -> str:
    return str(certificate.public_bytes())  # PEM is the default encoding


def describe(ssl_object: Any, server_name: str, trust_store: str, verified: bool) -> TlsInfo:
    sent, path = peer_chains(ssl_object)
    cipher = ssl_object.cipher()
    return TlsInfo(
        version=str(ssl_object.version()),
        cipher=str(cipher[0]) if cipher else "",
        server_name=server_name,
        chain_sent_pem=sent,
        verified_path_pem=path,
        trust_store=trust_store,
        verified=verified,
    )
