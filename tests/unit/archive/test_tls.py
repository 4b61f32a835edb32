"""archive.http.tls: the client context, and what a real handshake is recorded as."""

from __future__ import annotations

import socket
import ssl
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archive.http.mitmca import RunAuthority
from archive.http.tls import client_context, describe


def handshake(authority: RunAuthority, context: ssl.SSLContext, name: str) -> ssl.SSLSocket:
    server_side, client_side = socket.socketpair()
    server = authority.server_context(name).wrap_socket(
        server_side, server_side=True, do_handshake_on_connect=False
    )
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            server.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        return context.wrap_socket(client_side, server_hostname=name)
    finally:
        thread.join(10)
        server.close()


def test_a_verified_handshake_is_described_with_both_chains(tmp_path: Path) -> None:
    authority = RunAuthority(datetime.now(UTC))
    try:
        (tmp_path / "ca.pem").write_text(authority.ca_pem)
        context, store = client_context(tmp_path / "ca.pem")
        assert store == "file:ca.pem"
        with handshake(authority, context, "localhost") as client:
            info = describe(client, "localhost", store, True)
        assert info.version.startswith("TLSv1.")
        assert info.cipher
        assert len(info.chain_sent_pem) == 2  # leaf and run root, as the proxy sends them
        assert len(info.verified_path_pem) == 2
        assert info.verified_path_pem[-1].strip() == authority.ca_pem.strip()
        assert info.as_json()["serverName"] == "localhost"
    finally:
        authority.close()


def test_the_default_store_refuses_an_unknown_root() -> None:
    authority = RunAuthority(datetime.now(UTC))
    try:
        context, store = client_context()
        assert store.startswith("certifi ")
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(authority, context, "localhost")
    finally:
        authority.close()


def test_insecure_says_so_in_the_store() -> None:
    context, store = client_context(insecure=True)
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    assert store.endswith("(verification disabled: --insecure-skip-tls-verify)")
