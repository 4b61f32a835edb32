"""A certificate authority that lives for one browser capture (RFC 5280 profiles, ECDSA P-256).

The recording proxy terminates the browser's TLS (after ``CONNECT``) with a certificate for
the requested host, so it can read the request and record the origin's real answer. Those
certificates come from this authority: made in memory when a run starts, thrown away when it
ends, trusted by nothing but the one Chromium of that run.

All leaves share one key, so Chromium is told to accept exactly that key and nothing else
(``--ignore-certificate-errors-spki-list=<sha256 of the leaf SPKI>``, see
``archive/browser/capture.py``); no system or profile trust store is touched.

This module necessarily uses ``cryptography.hazmat`` (key generation and X.509 signing), the
one exception outside the signing and keys modules: there is no higher-level recipe for
issuing a certificate. Nothing it makes is evidence or signs evidence; the origin's own
certificates are verified by ``archive.http.tls`` as in any capture.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import shutil
import ssl
import tempfile
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LIFETIME = timedelta(days=1)
SKEW = timedelta(hours=1)  # the browser's clock may be a little behind ours
MAX_CONTEXTS = 512
_PEM = serialization.Encoding.PEM


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "prov recording proxy (one run only)"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
    ])


def san_for(host: str) -> x509.GeneralName:
    """The subjectAltName entry for ``host``; ValueError if it is neither an IP nor a DNS
    name in ASCII form (a CONNECT authority always is, for a real browser)."""
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    labels = host.split(".")
    if not host or len(host) > 253 or not all(
            label and len(label) <= 63 and label.isascii()
            and all(c.isalnum() or c in "-_" for c in label) for label in labels):
        raise ValueError(f"not a host name: {host!r}")
    return x509.DNSName(host.lower())


class RunAuthority:
    """A root and one shared leaf key; ``server_context(host)`` issues on first use."""

    def __init__(self, now: datetime) -> None:
        self.not_before = now - SKEW
        self.not_after = now + LIFETIME
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        name = _name(f"prov run {uuid.uuid4()}")
        ski = x509.SubjectKeyIdentifier.from_public_key(self._ca_key.public_key())
        self.ca_cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self._ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(self.not_before).not_valid_after(self.not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .add_extension(ski, critical=False)
            .sign(self._ca_key, hashes.SHA256())
        )
        # The leaf key has to reach OpenSSL through a file (load_cert_chain reads files
        # only): a private directory, removed by close().
        self._dir = Path(tempfile.mkdtemp(prefix="prov-run-ca-"))
        self._key_path = self._dir / "leaf.key"
        self._key_path.touch(mode=0o600)
        self._key_path.write_bytes(self._leaf_key.private_bytes(
            _PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self._contexts: dict[str, ssl.SSLContext] = {}

    @property
    def leaf_spki_sha256(self) -> str:
        """base64 of the sha256 of the leaves' SubjectPublicKeyInfo (Chromium's SPKI list)."""
        spki = self._leaf_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")

    @property
    def ca_sha256(self) -> str:
        """``sha256:<hex>`` of the root certificate (DER), named in the capture's metadata."""
        return "sha256:" + self.ca_cert.fingerprint(hashes.SHA256()).hex()

    @property
    def ca_pem(self) -> str:
        """The root certificate as PEM, for a client told to trust this run alone (yt-dlp)."""
        return self.ca_cert.public_bytes(_PEM).decode("ascii")

    def issue(self, host: str) -> x509.Certificate:
        """A server certificate for ``host``, valid for this run only."""
        ca_ski = self.ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        return (
            x509.CertificateBuilder().subject_name(_name(host)).issuer_name(
                self.ca_cert.subject)
            .public_key(self._leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(self.not_before).not_valid_after(self.not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False,
                                         False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName([san_for(host)]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                ca_ski.value), critical=False)
            .sign(self._ca_key, hashes.SHA256())
        )

    def server_context(self, host: str) -> ssl.SSLContext:
        """A TLS server context presenting a leaf for ``host`` (HTTP/1.1 only: the proxy
        parses HTTP/1.1, so ALPN must not let the browser pick h2)."""
        host = host.lower()
        cached = self._contexts.get(host)
        if cached is not None:
            return cached
        cert = self.issue(host)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.set_alpn_protocols(["http/1.1"])
        chain_path = self._dir / f"{uuid.uuid4().hex}.pem"
        chain_path.write_bytes(cert.public_bytes(_PEM) + self.ca_cert.public_bytes(_PEM))
        try:
            context.load_cert_chain(chain_path, self._key_path)
        finally:
            chain_path.unlink()
        if len(self._contexts) >= MAX_CONTEXTS:
            self._contexts.clear()
        self._contexts[host] = context
        return context

    def close(self) -> None:
        """Forget the keys and remove the private directory."""
        self._contexts.clear()
        shutil.rmtree(self._dir, ignore_errors=True)
