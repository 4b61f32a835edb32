"""RFC 3161 time-stamp tokens: ask a TSA for one, and verify one offline.

A token is a CMS SignedData (RFC 5652) over a TSTInfo (RFC 3161 section 2.4.2). `rfc3161-client`
builds the request and parses TimeStampResp and TSTInfo; `provenance.timestamps.cms` reads and
checks the CMS layer (imprint, nonce, signed attributes, ESSCertID binding, signature, TSA profile).

Trust (DESIGN.md, "TSA roots"): roots are the verifier's choice and are passed in;
certificates inside a token or a case are untrusted intermediates. The path is validated at
genTime, not now (`cryptography.x509.verification`): a TSA certificate that expired after
genTime is fine, one not valid at genTime is not. Every failure is a `TimestampError` whose
one-line message says what was checked, what was expected and what was found.
"""

from __future__ import annotations

import hashlib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.client import HTTPException
from pathlib import Path
from urllib.parse import urlsplit

import rfc3161_client
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509 import verification

from archive.errors import ConfigError, UsageError
from provenance.base.untrusted import read_named
from provenance.errors import FutureTokenError, TsaUnavailable, UntrustedRootError
from provenance.errors import TimestampError as TimestampError
from provenance.timestamps.cms import _DER, _check_token, _dn, _iso, _line, _read_token

MAX_RESPONSE_BYTES = 256 * 1024  # real responses are 2-8 KiB; the bound is for hostile input
# how far genTime may lie ahead of the verifier's clock: NTP-synced clocks differ by far less
FUTURE_TOLERANCE = timedelta(seconds=60)
_MAX_PEM_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Stamp:
    """A token as received: `response_der` is the whole TimeStampResp, stored as the .tsr."""

    tsa_url: str
    response_der: bytes
    gen_time: datetime
    nonce: int
    chain_der: list[bytes]  # the certificates in the token, the TSA's own first
    clock_offset_seconds: float  # local clock at receipt minus genTime


@dataclass(frozen=True)
class TokenCheck:
    """What `verify_stamp` established about a token."""

    gen_time: datetime
    tsa_name: str  # subject of the signing certificate, RFC 4514
    root_fingerprint: str  # "sha256:<hex>" of the root's DER
    trusted: bool  # False only with require_trusted=False and a root not in `roots`
    serial: int
    chain_name: str = ""  # certs/<this>: the chain file prov stores for the token's certificates


def tsa_id(url: str) -> str:
    """The id naming a TSA in file names: the first 16 hex of sha256 of its URL."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def fingerprint(cert: x509.Certificate) -> str:
    """``sha256:<hex>`` of a certificate's DER: how prov names TSA roots."""
    return "sha256:" + hashlib.sha256(cert.public_bytes(_DER)).hexdigest()


def load_certs(path: Path | str) -> list[x509.Certificate]:
    """The certificates of one PEM bundle; ConfigError if it is unreadable or holds none."""
    pem = read_named(path, _MAX_PEM_BYTES, error=ConfigError)
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise ConfigError(f"{path}: expected a PEM certificate bundle, found: {exc}") from None


def _utc_now() -> datetime:
    return datetime.now(UTC)


# -- requesting ---------------------------------------------------------------------------------


def request_stamp(
    data: bytes, tsa_url: str, *, timeout: float = 10.0, now: Callable[[], datetime] = _utc_now
) -> Stamp:
    """Ask `tsa_url` to time-stamp sha256(`data`), and check its answer.

    Checked: status granted, imprint, nonce, CMS signature, the TSA certificate's profile and
    validity at genTime. Not checked: whether its root is trusted (the verifier's choice).
    """
    if not data:
        raise UsageError("cannot time-stamp empty data")
    builder = rfc3161_client.TimestampRequestBuilder().data(data)
    request = builder.hash_algorithm(rfc3161_client.HashAlgorithm.SHA256).build()
    if request.nonce is None or not request.cert_req:  # both are rfc3161-client's defaults
        raise RuntimeError("rfc3161-client built a request without nonce or certReq")
    body = _post(tsa_url, request.as_bytes(), timeout)
    received = now()
    try:
        response = _decode(body)
    except TimestampError as exc:
        raise TsaUnavailable(f"TSA {tsa_url}: {exc}") from None
    if response.status != rfc3161_client.PKIStatus.GRANTED:
        raise TsaUnavailable(f"TSA {tsa_url}: {_status_text(response)}")
    token = _read_token(response)
    signer = _check_token(token, data, request.nonce, ())
    return Stamp(
        tsa_url=tsa_url,
        response_der=body,
        gen_time=token.gen_time,
        nonce=request.nonce,
        chain_der=[cert.public_bytes(_DER) for cert in _leaf_first(signer, token.certs)],
        clock_offset_seconds=(received - token.gen_time).total_seconds(),
    )


def _post(url: str, body: bytes, timeout: float) -> bytes:
    """POST a TimeStampReq; the answer's size and total time are bounded too."""
    try:
        scheme = urlsplit(url).scheme
    except ValueError:
        scheme = ""
    if scheme not in ("http", "https"):
        raise ConfigError(f"TSA URL {url!r}: expected an http(s) URL")
    headers = {"Content-Type": "application/timestamp-query"}
    request = urllib.request.Request(url, body, headers, method="POST")  # noqa: S310
    deadline, chunks = time.monotonic() + timeout, bytearray()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310 (http(s))
            while chunk := reply.read(65536):
                chunks += chunk
                if len(chunks) > MAX_RESPONSE_BYTES or time.monotonic() > deadline:
                    raise TsaUnavailable(f"TSA {url}: answer too large or too slow")
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the connection open
        raise TsaUnavailable(f"TSA {url}: expected HTTP 200, found {exc.code}") from None
    except (urllib.error.URLError, OSError, HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            reason = f"no answer within {timeout:g} s"
        raise TsaUnavailable(f"TSA {url}: unreachable: {_line(reason)}") from None
    return bytes(chunks)


# -- verifying ----------------------------------------------------------------------------------


def verify_stamp(
    response_der: bytes,
    data: bytes,
    *,
    roots: Sequence[x509.Certificate],
    untrusted: Sequence[x509.Certificate] = (),
    nonce: int | None = None,
    require_trusted: bool = True,
    now: Callable[[], datetime] = _utc_now,
) -> TokenCheck:
    """Verify a stored TimeStampResp over `data`, offline; raise TimestampError if it fails.

    With ``require_trusted=False`` a path to a root not in `roots` is validated up to that
    root and reported with ``trusted=False`` instead of raising UntrustedRootError. A token
    dated after `now` (beyond FUTURE_TOLERANCE) raises FutureTokenError, whatever its root.
    """
    response = _decode(response_der)
    if response.status != rfc3161_client.PKIStatus.GRANTED:
        raise TimestampError(f"token status: expected granted, found {_status_text(response)}")
    token = _read_token(response)
    signer = _check_token(token, data, nonce, untrusted)
    at = now()
    if token.gen_time > at + FUTURE_TOLERANCE:
        raise FutureTokenError(f"genTime {_iso(token.gen_time)} is after the moment of "
                               f"verification ({_iso(at)})", gen_time=token.gen_time, now=at)
    pool = [cert for cert in (*token.certs, *untrusted) if cert != signer]
    root, trusted = _check_path(signer, pool, roots, token.gen_time, require_trusted)
    return TokenCheck(
        gen_time=token.gen_time,
        tsa_name=_dn(signer),
        root_fingerprint=fingerprint(root),
        trusted=trusted,
        serial=token.serial,
        chain_name=chain_file_name(
            [cert.public_bytes(_DER) for cert in _leaf_first(signer, token.certs)]),
    )


def chain_pem(chain_der: Sequence[bytes]) -> bytes:
    """A token's certificates as prov stores them: PEM, the TSA's own first."""
    return "".join(ssl.DER_cert_to_PEM_cert(der) for der in chain_der).encode()


def chain_file_name(chain_der: Sequence[bytes]) -> str:
    """``<sha256 of chain_pem>.pem``: the chain's file under a case's ``certs/``."""
    return pem_file_name(chain_pem(chain_der))


def pem_file_name(pem: bytes) -> str:
    """The name a chain file of these bytes has (or would have) under a case's ``certs/``."""
    return f"{hashlib.sha256(pem).hexdigest()}.pem"


# -- the TimeStampResp around the token ---------------------------------------------------------


def _decode(response_der: bytes) -> rfc3161_client.TimeStampResponse:
    if len(response_der) > MAX_RESPONSE_BYTES:
        size = len(response_der)
        raise TimestampError(
            f"TimeStampResp: expected at most {MAX_RESPONSE_BYTES} bytes, found {size}"
        )
    try:
        response = rfc3161_client.decode_timestamp_response(response_der)
        response.status  # noqa: B018 (fail here, not at first use)
    except Exception as exc:  # the Rust parser raises ValueError; nothing raw may escape
        raise TimestampError(
            f"expected a DER TimeStampResp, found unparseable bytes ({_line(exc)})"
        ) from None
    return response


def _status_text(response: rfc3161_client.TimeStampResponse) -> str:
    status = response.status
    names = {int(member): member.name.lower() for member in rfc3161_client.PKIStatus}
    name = names.get(status, "unknown")
    text = "; ".join(response.status_string)
    return _line(f"status {status} ({name})" + (f": {text}" if text else ""))


# -- checking the path to a root, at genTime ----------------------------------------------------


def _check_path(
    signer: x509.Certificate,
    pool: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    at: datetime,
    require_trusted: bool,
) -> tuple[x509.Certificate, bool]:
    """The root that the signer's path reaches at genTime, and whether it is in `roots`."""
    error = "no trusted TSA roots were given"
    if roots:
        try:
            return _validate(signer, pool, roots, at)[-1], True
        except (verification.VerificationError, ValueError) as exc:
            error = _line(exc)
    top = _climb(signer, [*pool, *roots])  # only to say what went wrong, never to trust
    if not _issued_by(top, top):
        raise UntrustedRootError(
            f"TSA certificate chain: expected a path to a root, found no "
            f"issuer {_dn(top, 'issuer')}",
            root_fingerprint=f"unknown ({_dn(top, 'issuer')})",
            hint="if you trust this TSA: --tsa-root ROOT.pem, or `prov tsa trust ROOT.pem`",
        )
    if top not in roots and require_trusted:
        raise UntrustedRootError(
            f"TSA certificate chain: untrusted root {fingerprint(top)} ({_dn(top)})",
            root_fingerprint=fingerprint(top),
            hint="if you trust this TSA: --tsa-root ROOT.pem, or `prov tsa trust ROOT.pem`",
        )
    if top not in roots:
        try:
            return _validate(signer, pool, [top], at)[-1], False
        except (verification.VerificationError, ValueError) as exc:
            error = _line(exc)
    raise TimestampError(f"TSA certificate chain at genTime {_iso(at)}: {error}")


def _validate(
    leaf: x509.Certificate,
    pool: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    at: datetime,
) -> list[x509.Certificate]:
    # CAs may carry an EKU (real TSA intermediates say timeStamping); the leaf's is checked above
    critical, agnostic = verification.Criticality.CRITICAL, verification.Criticality.AGNOSTIC
    ee = verification.ExtensionPolicy.permit_all()
    ee = ee.require_present(x509.ExtendedKeyUsage, critical, None)
    ca = verification.ExtensionPolicy.webpki_defaults_ca()
    ca = ca.may_be_present(x509.ExtendedKeyUsage, agnostic, None)
    builder = verification.PolicyBuilder().store(verification.Store(list(roots))).time(at)
    builder = builder.max_chain_depth(8).extension_policies(ca_policy=ca, ee_policy=ee)
    chain: list[x509.Certificate] = builder.build_client_verifier().verify(leaf, list(pool)).chain
    return chain


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _climb(cert: x509.Certificate, pool: Sequence[x509.Certificate]) -> x509.Certificate:
    """Follow issuers up from `cert` as far as `pool` goes."""
    for _ in range(8):
        issuer = next((c for c in pool if c != cert and _issued_by(cert, c)), None)
        if issuer is None:
            break
        cert = issuer
    return cert


def _leaf_first(signer: x509.Certificate, certs: list[x509.Certificate]) -> list[x509.Certificate]:
    ordered, rest = [signer], [cert for cert in certs if cert != signer]
    while (issuer := next((c for c in rest if _issued_by(ordered[-1], c)), None)) is not None:
        ordered.append(issuer)
        rest.remove(issuer)
    return ordered + rest
