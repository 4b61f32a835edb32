"""A throwaway X.509 certificate authority for TLS tests (RFC 5280 profiles, ECDSA P-256).

`TestCA()` makes a root and, by default, an intermediate, and issues server ("leaf")
certificates for DNS names and IP addresses. Leaves can be made broken on purpose —
expired, not yet valid, for the wrong host, or self-signed — so tests can prove that a
client refuses them. Nothing here is meant to be secure: keys are unencrypted and live
only as long as the test run.

Certificates carry the extensions that strict verifiers (OpenSSL's X509_STRICT, which
Python 3.13 enables by default) insist on: basicConstraints, keyUsage, subject and
authority key identifiers, and subjectAltName on leaves.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_NAMES: tuple[str, ...] = ("localhost", "127.0.0.1")
WRONG_HOST_NAMES: tuple[str, ...] = ("wrong-host.invalid",)

_ONE_DAY = datetime.timedelta(days=1)
_PEM = serialization.Encoding.PEM


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "prov tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _general_names(names: Iterable[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(_PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _write(path: Path | str, data: bytes, default_name: str, mode: int = 0o644) -> Path:
    """Write `data` to `path`, or to `path/default_name` when `path` is a directory."""
    target = Path(path)
    if target.is_dir():
        target = target / default_name
    target.write_bytes(data)
    target.chmod(mode)
    return target


@dataclass(frozen=True)
class Leaf:
    """A server certificate, its key and the intermediates a server sends after it."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    intermediates: tuple[x509.Certificate, ...]

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(_PEM)

    @property
    def key_pem(self) -> bytes:
        return _key_pem(self.key)

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """The certificates in wire order: leaf first, then intermediates (never the root)."""
        return (self.cert, *self.intermediates)

    @property
    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(_PEM) for c in self.chain)

    def write_chain(self, path: Path | str) -> Path:
        return _write(path, self.chain_pem, "chain.pem")

    def write_key(self, path: Path | str) -> Path:
        return _write(path, self.key_pem, "key.pem", 0o600)

    def server_context(self) -> ssl.SSLContext:
        """An SSLContext for a server presenting this leaf and its intermediates."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # load_cert_chain only reads files, so the PEMs go through a private temp dir.
        with tempfile.TemporaryDirectory(prefix="prov-testca-") as tmp:
            ctx.load_cert_chain(self.write_chain(tmp), self.write_key(tmp))
        return ctx


class TestCA:
    """A root CA (and optionally one intermediate) that issues server certificates.

    >>> ca = TestCA()
    >>> leaf = ca.issue()                    # localhost + 127.0.0.1, valid now
    >>> bad = ca.issue(expired=True)
    >>> ctx = ca.client_context()            # trusts only this root
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, name: str = "prov Test", *, intermediate: bool = True) -> None:
        now = _now()
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root_cert = self._sign(
            subject=_name(f"{name} Root CA"),
            public_key=self.root_key.public_key(),
            issuer_cert=None,
            issuer_key=self.root_key,
            not_before=now - _ONE_DAY,
            not_after=now + 3650 * _ONE_DAY,
            ca_path_length=None,
        )
        self.intermediate_key: ec.EllipticCurvePrivateKey | None = None
        self.intermediate_cert: x509.Certificate | None = None
        if intermediate:
            self.intermediate_key = ec.generate_private_key(ec.SECP256R1())
            self.intermediate_cert = self._sign(
                subject=_name(f"{name} Intermediate CA"),
                public_key=self.intermediate_key.public_key(),
                issuer_cert=self.root_cert,
                issuer_key=self.root_key,
                not_before=now - _ONE_DAY,
                not_after=now + 1825 * _ONE_DAY,
                ca_path_length=0,
            )
        self._leaf: Leaf | None = None

    # -- issuing ---------------------------------------------------------------------------

    def issue(
        self,
        names: Sequence[str] = DEFAULT_NAMES,
        *,
        expired: bool = False,
        not_yet_valid: bool = False,
        wrong_host: bool = False,
        self_signed: bool = False,
    ) -> Leaf:
        """Issue a server certificate for DNS names and/or IP addresses in `names`.

        `wrong_host` replaces the names with `WRONG_HOST_NAMES`; `self_signed` makes a leaf
        that signs itself (no chain to this CA).
        """
        if wrong_host:
            names = WRONG_HOST_NAMES
        now = _now()
        if expired:
            not_before, not_after = now - 60 * _ONE_DAY, now - 30 * _ONE_DAY
        elif not_yet_valid:
            not_before, not_after = now + 30 * _ONE_DAY, now + 60 * _ONE_DAY
        else:
            not_before, not_after = now - _ONE_DAY, now + 30 * _ONE_DAY
        key = ec.generate_private_key(ec.SECP256R1())
        issuer_cert: x509.Certificate | None = self.issuer[0]
        issuer_key, intermediates = self.issuer[1], self.intermediates
        if self_signed:
            issuer_cert, issuer_key, intermediates = None, key, ()
        cert = self._sign(
            subject=_name(names[0]),
            public_key=key.public_key(),
            issuer_cert=issuer_cert,
            issuer_key=issuer_key,
            not_before=not_before,
            not_after=not_after,
            ca_path_length=None,
            leaf_names=names,
        )
        return Leaf(cert=cert, key=key, intermediates=intermediates)

    @property
    def leaf(self) -> Leaf:
        """A default valid leaf for `DEFAULT_NAMES`, issued once and reused."""
        if self._leaf is None:
            self._leaf = self.issue()
        return self._leaf

    @property
    def issuer(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        if self.intermediate_cert is not None and self.intermediate_key is not None:
            return self.intermediate_cert, self.intermediate_key
        return self.root_cert, self.root_key

    @property
    def intermediates(self) -> tuple[x509.Certificate, ...]:
        return () if self.intermediate_cert is None else (self.intermediate_cert,)

    # -- PEM bytes and files ---------------------------------------------------------------

    @property
    def root_pem(self) -> bytes:
        return self.root_cert.public_bytes(_PEM)

    @property
    def intermediate_pem(self) -> bytes:
        return b"".join(c.public_bytes(_PEM) for c in self.intermediates)

    @property
    def chain_pem(self) -> bytes:
        """The default leaf's chain as a server sends it: leaf, then intermediates."""
        return self.leaf.chain_pem

    @property
    def key_pem(self) -> bytes:
        """The default leaf's private key (PKCS#8, unencrypted)."""
        return self.leaf.key_pem

    @property
    def root_sha256(self) -> str:
        """The root certificate's DER fingerprint as `sha256:<hex>`."""
        return "sha256:" + self.root_cert.fingerprint(hashes.SHA256()).hex()

    def write_root(self, path: Path | str) -> Path:
        """Write the root certificate PEM to `path` (or `path/root.pem` for a directory)."""
        return _write(path, self.root_pem, "root.pem")

    def write_chain(self, path: Path | str) -> Path:
        return self.leaf.write_chain(path)

    def write_key(self, path: Path | str) -> Path:
        return self.leaf.write_key(path)

    # -- ssl contexts ----------------------------------------------------------------------

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context whose only trust anchor is this root."""
        return ssl.create_default_context(cadata=self.root_pem.decode("ascii"))

    def server_context(self, leaf: Leaf | None = None) -> ssl.SSLContext:
        return (leaf or self.leaf).server_context()

    # -- internals -------------------------------------------------------------------------

    @staticmethod
    def _sign(
        *,
        subject: x509.Name,
        public_key: ec.EllipticCurvePublicKey,
        issuer_cert: x509.Certificate | None,
        issuer_key: ec.EllipticCurvePrivateKey,
        not_before: datetime.datetime,
        not_after: datetime.datetime,
        ca_path_length: int | None,
        leaf_names: Sequence[str] | None = None,
    ) -> x509.Certificate:
        issuer_name = subject if issuer_cert is None else issuer_cert.subject
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                critical=False,
            )
        )
        is_ca = leaf_names is None
        builder = builder.add_extension(
            x509.BasicConstraints(ca=is_ca, path_length=ca_path_length if is_ca else None),
            critical=True,
        ).add_extension(
            x509.KeyUsage(
                digital_signature=not is_ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca,
                crl_sign=is_ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        if leaf_names is not None:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(_general_names(leaf_names)), critical=False
            ).add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        return builder.sign(issuer_key, hashes.SHA256())
