"""A local RFC 3161 time-stamp authority for tests, served over HTTP on 127.0.0.1.

`LocalTSA()` makes its own root CA (and optionally an intermediate) and a TSA certificate
with the profile RFC 3161 section 2.3 asks for and openssl insists on: a CRITICAL
extendedKeyUsage of id-kp-timeStamping only, keyUsage digitalSignature. Tokens are CMS
SignedData (RFC 5652) over a TSTInfo, with signed attributes contentType, messageDigest and
signingCertificateV2 (RFC 5816 / RFC 5035 ESSCertIDv2), so `openssl ts -verify` accepts them.

It can misbehave on purpose (see `Behaviour`) so tests can prove the client refuses what a
hostile or broken TSA sends. Behaviours that shape certificates (EKU, validity) are fixed
at construction; the others can be changed on a running TSA via `tsa.behaviour`.

    with LocalTSA(key="rsa") as tsa:                 # or: tsa = tsa_factory(key="rsa")
        stamp = request_stamp(b"data", tsa.url)
    LocalTSA(eku="non-critical"), LocalTSA(wrong_nonce=True), LocalTSA(delay=30),
    LocalTSA(**expired_after_gen_time()), LocalTSA(intermediate=True, embed_chain=True), ...
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyKind = Literal["ec", "rsa"]
EkuMode = Literal["critical", "non-critical", "missing", "extra-purpose"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

POLICY_OID = "1.3.6.1.4.1.57264.99.1"  # arbitrary test policy
_EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
_PEM = serialization.Encoding.PEM
_DER = serialization.Encoding.DER


@dataclass
class Behaviour:
    """How the TSA (mis)behaves. Defaults describe an honest TSA."""

    wrong_imprint: bool = False  # sign a hash with one bit flipped
    wrong_nonce: bool = False  # answer with nonce + 1
    omit_nonce: bool = False  # leave the nonce out of TSTInfo
    gen_time: datetime.datetime | None = None  # fixed genTime; None means "now"
    http_status: int = 200  # e.g. 500
    delay: float = 0.0  # seconds to sleep before answering
    garbage: bool = False  # 200 with random bytes instead of a TimeStampResp
    pki_status: int = 0  # 0 granted, 2 rejection, ...
    bad_signature: bool = False  # sign with a key that is not the certificate's
    omit_certs: bool = False  # ignore certReq
    embed_chain: bool = False  # include intermediates too, not only the TSA certificate
    embed_root: bool = False  # include its self-signed root too, as an intruder's TSA may


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "prov tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _new_key(kind: KeyKind) -> PrivateKey:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _sign(key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


@dataclass
class _Issued:
    key: PrivateKey
    cert: x509.Certificate


def _issue(
    subject: str,
    key: PrivateKey,
    issuer: _Issued | None,
    extensions: list[tuple[x509.ExtensionType, bool]],
    validity: tuple[datetime.datetime, datetime.datetime],
) -> _Issued:
    signer = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.cert.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False
        )
    )
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical)
    return _Issued(key, builder.sign(signer, hashes.SHA256()))


def _ca_extensions() -> list[tuple[x509.ExtensionType, bool]]:
    usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    return [(x509.BasicConstraints(ca=True, path_length=None), True), (usage, True)]


def _tsa_extensions(eku: EkuMode) -> list[tuple[x509.ExtensionType, bool]]:
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    out: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (usage, True),
    ]
    purposes = [ExtendedKeyUsageOID.TIME_STAMPING]
    if eku == "extra-purpose":
        purposes.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if eku != "missing":
        out.append((x509.ExtendedKeyUsage(purposes), eku != "non-critical"))
    return out


class LocalTSA:
    """An RFC 3161 TSA over HTTP on 127.0.0.1; a context manager (starts and stops it)."""

    def __init__(
        self,
        *,
        key: KeyKind = "ec",
        intermediate: bool = False,
        eku: EkuMode = "critical",
        cert_not_before: datetime.datetime | None = None,
        cert_not_after: datetime.datetime | None = None,
        **behaviour: Any,
    ) -> None:
        self.behaviour = Behaviour(**behaviour)
        self.requests: list[bytes] = []
        now = _now()
        ca_validity = (_EPOCH, now + datetime.timedelta(days=3650))
        self.root = _issue(
            f"prov test TSA root ({key})", _new_key(key), None, _ca_extensions(), ca_validity
        )
        issuer = self.root
        self.intermediates: list[_Issued] = []
        if intermediate:
            issuer = _issue(
                f"prov test TSA intermediate ({key})",
                _new_key(key),
                self.root,
                _ca_extensions(),
                ca_validity,
            )
            self.intermediates.append(issuer)
        validity = (
            cert_not_before or now - datetime.timedelta(days=1),
            cert_not_after or now + datetime.timedelta(days=365),
        )
        self.signer = _issue(
            f"prov test TSA ({key})", _new_key(key), issuer, _tsa_extensions(eku), validity
        )
        self._key_kind = key
        self._serials = itertools.count(1)
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- certificates -----------------------------------------------------------------
    @property
    def root_cert(self) -> x509.Certificate:
        return self.root.cert

    @property
    def root_pem(self) -> bytes:
        return self.root.cert.public_bytes(_PEM)

    @property
    def root_fingerprint(self) -> str:
        return "sha256:" + hashlib.sha256(self.root.cert.public_bytes(_DER)).hexdigest()

    @property
    def tsa_cert(self) -> x509.Certificate:
        return self.signer.cert

    @property
    def chain_pems(self) -> list[bytes]:
        """PEMs of the TSA certificate and any intermediates, leaf first, without the root."""
        certs = [self.signer.cert, *(i.cert for i in self.intermediates)]
        return [c.public_bytes(_PEM) for c in certs]

    @property
    def chain_pem(self) -> bytes:
        """`chain_pems` as one bundle, as `openssl ts -verify -untrusted` wants it."""
        return b"".join(self.chain_pems)

    # -- server ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("LocalTSA is not running; use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_address[1]}/tsa"

    def start(self) -> LocalTSA:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.block_on_close = False
        server.tsa = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalTSA:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def sleep(self) -> None:
        """Honour `delay` in small steps, so stopping the TSA is never held up."""
        deadline = time.monotonic() + self.behaviour.delay
        while not self._stop.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)

    # -- the protocol ------------------------------------------------------------------
    def respond(self, request_der: bytes) -> bytes:
        """The DER TimeStampResp for one DER TimeStampReq, shaped by `behaviour`."""
        b = self.behaviour
        if b.pki_status != 0:
            status = {"status": b.pki_status, "status_string": ["refused by the test TSA"]}
            info = tsp.PKIStatusInfo(status).dump()  # asn1crypto insists on a token: wrap by hand
            return b"\x30" + bytes([len(info)]) + info  # (short: one length byte is enough)
        req = tsp.TimeStampReq.load(request_der)
        tst_der = self._tst_info(req).dump()
        signed_data = self._signed_data(tst_der, bool(req["cert_req"].native))
        token = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
        return tsp.TimeStampResp(
            {"status": {"status": "granted"}, "time_stamp_token": token}
        ).dump()

    def _tst_info(self, req: tsp.TimeStampReq) -> tsp.TSTInfo:
        b = self.behaviour
        imprint = req["message_imprint"]
        hashed = bytearray(imprint["hashed_message"].native)
        if b.wrong_imprint:
            hashed[0] ^= 0x01
        info: dict[str, Any] = {
            "version": "v1",
            "policy": POLICY_OID,
            "message_imprint": {
                "hash_algorithm": imprint["hash_algorithm"],
                "hashed_message": bytes(hashed),
            },
            "serial_number": next(self._serials),
            "gen_time": b.gen_time or _now(),
            "accuracy": {"seconds": 1},
        }
        nonce = req["nonce"].native
        if nonce is not None and not b.omit_nonce:
            info["nonce"] = nonce + 1 if b.wrong_nonce else nonce
        return tsp.TSTInfo(info)

    def _signed_attrs(self, tst_der: bytes) -> cms.CMSAttributes:
        cert_hash = hashlib.sha256(self.signer.cert.public_bytes(_DER)).digest()
        attrs = [
            cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
            cms.CMSAttribute(
                {"type": "message_digest", "values": [hashlib.sha256(tst_der).digest()]}
            ),
            cms.CMSAttribute(
                {
                    "type": "signing_certificate_v2",
                    "values": [{"certs": [{"cert_hash": cert_hash}]}],
                }
            ),
        ]
        # DER orders a SET OF by encoding; openssl re-encodes before verifying, so must we.
        return cms.CMSAttributes(sorted(attrs, key=lambda a: a.dump()))

    def _signed_data(self, tst_der: bytes, cert_req: bool) -> cms.SignedData:
        b = self.behaviour
        attrs = self._signed_attrs(tst_der)
        key = _new_key(self._key_kind) if b.bad_signature else self.signer.key
        signer_cert = asn1_x509.Certificate.load(self.signer.cert.public_bytes(_DER))
        ecdsa = isinstance(key, ec.EllipticCurvePrivateKey)
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": {
                            "issuer": signer_cert.issuer,
                            "serial_number": signer_cert.serial_number,
                        }
                    }
                ),
                "digest_algorithm": {"algorithm": "sha256"},
                "signed_attrs": attrs,
                "signature_algorithm": {"algorithm": "sha256_ecdsa" if ecdsa else "sha256_rsa"},
                "signature": _sign(key, attrs.dump()),
            }
        )
        certs = [signer_cert]
        if b.embed_chain:
            certs += [
                asn1_x509.Certificate.load(i.cert.public_bytes(_DER)) for i in self.intermediates
            ]
        if b.embed_root:
            certs.append(asn1_x509.Certificate.load(self.root.cert.public_bytes(_DER)))
        content: dict[str, Any] = {
            "version": "v3",
            "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": {
                "content_type": "tst_info",
                "content": cms.ParsableOctetString(tst_der),
            },
            "signer_infos": [signer_info],
        }
        if cert_req and not b.omit_certs:
            content["certificates"] = certs
        return cms.SignedData(content)


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def do_POST(self) -> None:
        tsa: LocalTSA = self.server.tsa  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(min(length, 1 << 16))
        tsa.requests.append(body)
        tsa.sleep()
        b = tsa.behaviour
        if b.http_status != 200:
            self._send(b.http_status, "text/plain", b"test TSA failure\n")
        elif b.garbage:
            self._send(200, "application/timestamp-reply", os.urandom(200))
        else:
            try:
                reply = tsa.respond(body)
            except ValueError:  # not a TimeStampReq
                self._send(400, "text/plain", b"bad request\n")
                return
            self._send(200, "application/timestamp-reply", reply)

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up (a timeout test); nothing to do

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class TsaFactory:
    """Makes running `LocalTSA`s and stops them all on close: the body of a pytest fixture.

    @pytest.fixture
    def tsa_factory() -> Iterator[TsaFactory]:
        with TsaFactory() as factory:
            yield factory
    """

    started: list[LocalTSA] = field(default_factory=list)

    def __call__(self, **options: Any) -> LocalTSA:
        tsa = LocalTSA(**options).start()
        self.started.append(tsa)
        return tsa

    def close(self) -> None:
        for tsa in self.started:
            tsa.stop()
        self.started.clear()

    def __enter__(self) -> TsaFactory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def expired_before_gen_time() -> dict[str, Any]:
    """Options for a TSA whose certificate had expired (10 days ago) before genTime (now)."""
    now = _now()
    day = datetime.timedelta(days=1)
    return {"cert_not_before": now - 30 * day, "cert_not_after": now - 10 * day}


def expired_after_gen_time() -> dict[str, Any]:
    """Options for a TSA whose certificate was valid at genTime (20 days ago) but has expired
    since (10 days ago): its tokens verify only at genTime (`openssl ts -verify -attime`)."""
    now = _now()
    return {**expired_before_gen_time(), "gen_time": now - datetime.timedelta(days=20)}


def running_tsa(**options: Any) -> Iterator[LocalTSA]:
    """A generator for `@pytest.fixture` bodies: `yield from running_tsa(key="rsa")`."""
    with LocalTSA(**options) as tsa:
        yield tsa
