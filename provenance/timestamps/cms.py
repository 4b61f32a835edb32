"""The CMS layer of an RFC 3161 time-stamp token: a bounded DER reader and every check but trust.

A token is a CMS SignedData (RFC 5652 section 5) over a DER TSTInfo (RFC 3161 section 2.4.2)
whose signed attributes bind the TSA certificate by hash: ESSCertIDv2 (RFC 5816, RFC 5035) or
the SHA-1 ESSCertID of RFC 2634. It is checked here, with `cryptography`, because
`rfc3161-client`'s `Verifier` puts the caller's untrusted certificates into its trusted store,
accepts an EKU that merely includes timeStamping, skips the ESSCertID binding and rounds genTime
to seconds. Roots and the path to them are `provenance.timestamps.rfc3161`' business.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple, TypeVar

import rfc3161_client
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from provenance.errors import TimestampError

_MAX_CERTS = 32
_DER = serialization.Encoding.DER
_SHA2 = "2.16.840.1.101.3.4.2."
_DIGESTS = {_SHA2 + "1": "sha256", _SHA2 + "2": "sha384", _SHA2 + "3": "sha512"}
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()
}
_SIG_ALGS = {  # signatureAlgorithm -> key type, hash ("" = the SignerInfo's digestAlgorithm)
    "1.2.840.113549.1.1.1": ("rsa", ""),
    "1.2.840.113549.1.1.11": ("rsa", "sha256"),
    "1.2.840.113549.1.1.12": ("rsa", "sha384"),
    "1.2.840.113549.1.1.13": ("rsa", "sha512"),
    "1.2.840.10045.2.1": ("ec", ""),
    "1.2.840.10045.4.3.2": ("ec", "sha256"),
    "1.2.840.10045.4.3.3": ("ec", "sha384"),
    "1.2.840.10045.4.3.4": ("ec", "sha512"),
}
_SIGNED_DATA, _TST_INFO = "1.2.840.113549.1.7.2", "1.2.840.113549.1.9.16.1.4"
_CONTENT_TYPE, _MESSAGE_DIGEST = "1.2.840.113549.1.9.3", "1.2.840.113549.1.9.4"
_ESS_V1, _ESS_V2 = "1.2.840.113549.1.9.16.2.12", "1.2.840.113549.1.9.16.2.47"
_T = TypeVar("_T")


# -- reading: every parse of the token, so every "malformed", happens here ----------------------


class _Der(NamedTuple):
    tag: int
    body: bytes
    raw: bytes


@dataclass(frozen=True)
class _Token:
    gen_time: datetime
    serial: int
    nonce: int | None
    imprint: tuple[str, bytes]  # hash algorithm OID, hashed message
    content: bytes  # eContent: the DER TSTInfo that messageDigest covers
    certs: list[x509.Certificate]
    sid: _Der  # IssuerAndSerialNumber, or [0] subjectKeyIdentifier
    digest: str  # digestAlgorithm, as a hashlib name
    signed_attrs: bytes  # the DER SET OF Attribute that was signed (RFC 5652 5.4)
    attrs: dict[str, _Der]  # attribute OID -> its single value
    sig_alg: tuple[str, str]  # key type, hash name
    signature: bytes

def _read_token(response: rfc3161_client.TimeStampResponse) -> _Token:
    try:
        info = response.tst_info
        content_type, wrapped = _items(_parse(response.time_stamp_token()))
        signed = _items(_items(wrapped)[0])
        encap, signer_infos = _items(signed[2]), _items(signed[-1])
        if _oid(content_type) != _SIGNED_DATA or _oid(encap[0]) != _TST_INFO:
            raise ValueError("not a SignedData over a TSTInfo")
        if len(signer_infos) != 1:  # RFC 3161 2.4.2: the TSA's signature and no other
            raise ValueError(f"expected one SignerInfo, found {len(signer_infos)}")
        content = _items(encap[1])[0].body
        gen_time = _gen_time(_items(_parse(content))[4])
        if gen_time.replace(microsecond=0) != info.gen_time:  # the two parsers must agree
            raise ValueError(f"genTime {gen_time} read elsewhere as {info.gen_time}")
        imprint = (info.message_imprint.hash_algorithm.dotted_string, info.message_imprint.message)
        certs = [x509.load_der_x509_certificate(item.raw) for item in _cert_items(signed)]
        _ = [(cert.subject, cert.issuer) for cert in certs]  # parse names now, not in messages
        return _Token(
            gen_time, info.serial_number, info.nonce, imprint, content, certs,
            *_signer_info(signer_infos[0]),
        )
    except KeyError:  # from cryptography's lazy name parsing
        raise TimestampError("time-stamp token: malformed (unreadable certificate name)") from None
    except (ValueError, IndexError, UnicodeDecodeError, x509.InvalidVersion) as exc:
        raise TimestampError(f"time-stamp token: malformed ({_line(exc)})") from None


def _signer_info(der: _Der) -> tuple[_Der, str, bytes, dict[str, _Der], tuple[str, str], bytes]:
    # version, sid, digestAlgorithm, [0] signedAttrs, signatureAlgorithm, signature, [1] ...
    _, sid, digest_alg, attrs, sig_alg, signature, *_ = _items(der)
    if attrs.tag != 0xA0:
        raise ValueError("SignerInfo has no signed attributes")
    digest = _algorithm(_DIGESTS, digest_alg, "digestAlgorithm")
    kind, sig_hash = _algorithm(_SIG_ALGS, sig_alg, "signatureAlgorithm")
    values: dict[str, _Der] = {}
    for attr in _items(attrs):
        oid_der, value_set = _items(attr)
        oid, found = _oid(oid_der), _items(value_set)
        if oid in values or len(found) != 1:
            raise ValueError(f"signed attribute {oid} repeated or not single-valued")
        values[oid] = found[0]
    signed_attrs = b"\x31" + attrs.raw[1:]  # signed as a SET OF, carried as [0] IMPLICIT
    return sid, digest, signed_attrs, values, (kind, sig_hash or digest), signature.body


def _algorithm(table: dict[str, _T], der: _Der, what: str) -> _T:
    oid = _oid(_items(der)[0])
    if oid not in table:
        raise ValueError(f"{what} {oid} is not supported")
    return table[oid]


def _cert_items(signed: list[_Der]) -> list[_Der]:
    found = [item for item in signed[3:-1] if item.tag == 0xA0]  # [0] IMPLICIT certificates
    certs = [item for item in _items(found[0]) if item.tag == 0x30] if found else []
    if len(certs) > _MAX_CERTS:
        raise ValueError(f"{len(certs)} certificates, more than {_MAX_CERTS}")
    return certs


def _parse(buf: bytes, pos: int = 0, *, whole: bool = True) -> _Der:
    """The DER TLV at `pos`. rfc3161-client has already held the token to strict DER; this
    walk only has to stay inside `buf`."""
    if len(buf) - pos < 2 or buf[pos] & 0x1F == 0x1F:
        raise ValueError("truncated DER or high tag number")
    length, start = buf[pos + 1], pos + 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4 or start + count > len(buf):
            raise ValueError("bad DER length")
        length, start = int.from_bytes(buf[start : start + count]), start + count
    end = start + length
    if end > len(buf) or (whole and end != len(buf)):
        raise ValueError("DER length does not match the data")
    return _Der(buf[pos], buf[start:end], buf[pos:end])


def _items(der: _Der) -> list[_Der]:
    out: list[_Der] = []
    pos = 0
    while pos < len(der.body):
        out.append(_parse(der.body, pos, whole=False))
        pos += len(out[-1].raw)
    return out


def _oid(der: _Der) -> str:
    if der.tag != 0x06 or not der.body or der.body[-1] & 0x80:
        raise ValueError("expected an OBJECT IDENTIFIER")
    arcs, value = [], 0
    for byte in der.body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(map(str, [first, arcs[0] - 40 * first, *arcs[1:]]))


def _gen_time(der: _Der) -> datetime:
    """GeneralizedTime ``YYYYMMDDhhmmss[.f+]Z``, fraction kept to the microsecond."""
    text = der.body.decode("ascii")
    whole, dot, fraction = text.removesuffix("Z").partition(".")
    digits = whole.isdigit() and (fraction.isdigit() or not dot)
    if der.tag != 0x18 or not text.endswith("Z") or len(whole) != 14 or not digits:
        raise ValueError(f"genTime {text!r} is not a UTC GeneralizedTime")
    month, day, hour, minute, second = (int(whole[i : i + 2]) for i in range(4, 14, 2))
    micros = int(fraction[:6].ljust(6, "0"))
    return datetime(int(whole[:4]), month, day, hour, minute, second, micros, tzinfo=UTC)


# -- checking the token: everything but trust ---------------------------------------------------


def _check_token(
    token: _Token, data: bytes, nonce: int | None, extra: Sequence[x509.Certificate]
) -> x509.Certificate:
    """Imprint, nonce, signed attributes, signature and TSA certificate; returns the latter."""
    expected = hashlib.sha256(data).hexdigest()
    algorithm, imprint = token.imprint
    if algorithm != _SHA2 + "1":
        raise TimestampError(f"message imprint: expected sha256, found algorithm {algorithm}")
    if imprint.hex() != expected:
        raise TimestampError(
            f"message imprint: expected sha256:{expected}, found "
            f"sha256:{imprint.hex()} (a token for other data)"
        )
    if nonce is not None and token.nonce != nonce:
        raise TimestampError(f"nonce: expected {nonce}, found {token.nonce}")
    if _attr_oid(token, _CONTENT_TYPE) != _TST_INFO:
        raise TimestampError("signed contentType: expected id-ct-TSTInfo, found another")
    digest = hashlib.new(token.digest, token.content).hexdigest()
    found = token.attrs.get(_MESSAGE_DIGEST)
    if found is None or found.tag != 0x04 or found.body.hex() != digest:
        raise TimestampError(
            f"signed messageDigest: expected {token.digest}:{digest} (the TSTInfo's), found another"
        )
    signer = _signing_cert(token, [*token.certs, *extra])
    _check_signature(signer, token)
    _check_profile(signer, token.gen_time)
    return signer


def _attr_oid(token: _Token, oid: str) -> str | None:
    try:
        return _oid(token.attrs[oid])
    except (KeyError, ValueError):
        return None


def _ess_cert_hash(token: _Token) -> tuple[str, bytes]:
    """The hash algorithm and value by which signingCertificate(V2) names the TSA cert."""
    if _ESS_V2 not in token.attrs and _ESS_V1 not in token.attrs:
        raise TimestampError(
            "signed attributes: expected signingCertificateV2 or signingCertificate "
            "naming the TSA certificate (RFC 5035), found neither"
        )
    try:
        if _ESS_V2 in token.attrs:  # SigningCertificateV2 { certs: ESSCertIDv2 {alg?, hash} }
            first = _items(_items(_items(token.attrs[_ESS_V2])[0])[0])
            if first[0].tag != 0x30:
                return "sha256", first[0].body
            return _algorithm(_DIGESTS, first[0], "ESSCertIDv2 algorithm"), first[1].body
        first = _items(_items(_items(token.attrs[_ESS_V1])[0])[0])
        return "sha1", first[0].body
    except (ValueError, IndexError) as exc:
        raise TimestampError(f"signingCertificate: malformed ({_line(exc)})") from None


def _signing_cert(token: _Token, candidates: Sequence[x509.Certificate]) -> x509.Certificate:
    """The certificate ESSCertID(v2) names by hash; the unsigned sid must name it too."""
    algorithm, cert_hash = _ess_cert_hash(token)
    for cert in candidates:
        if hashlib.new(algorithm, cert.public_bytes(_DER)).digest() == cert_hash:
            if not _sid_matches(token.sid, cert):
                name = _dn(cert)
                raise TimestampError(f"SignerInfo sid: expected {name}, found another")
            return cert
    raise TimestampError(
        f"TSA certificate: expected one with {algorithm}:{cert_hash.hex()} "
        "in the token or the untrusted certificates, found none"
    )


def _sid_matches(sid: _Der, cert: x509.Certificate) -> bool:
    try:
        if sid.tag == 0x80:  # [0] subjectKeyIdentifier
            ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            return sid.body == ski.value.digest
        issuer, serial = _items(sid)
        tbs = _items(_parse(cert.tbs_certificate_bytes))
        tbs_issuer = tbs[3 if tbs[0].tag == 0xA0 else 2]  # after [0] version, serial, signature
        same_serial = int.from_bytes(serial.body, signed=True) == cert.serial_number
        return issuer.raw == tbs_issuer.raw and same_serial
    except (ValueError, x509.ExtensionNotFound):
        return False


def _check_signature(cert: x509.Certificate, token: _Token) -> None:
    kind, hash_name = token.sig_alg
    name = _dn(cert)
    try:
        key, algorithm = cert.public_key(), _HASHES[hash_name]
        if kind == "rsa" and isinstance(key, rsa.RSAPublicKey):
            key.verify(token.signature, token.signed_attrs, padding.PKCS1v15(), algorithm)
        elif kind == "ec" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(token.signature, token.signed_attrs, ec.ECDSA(algorithm))
        else:
            raise TimestampError(f"CMS signature: expected a {kind} key, found another in {name}")
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        raise TimestampError(f"CMS signature: does not verify with the key of {name}") from None


def _check_profile(cert: x509.Certificate, at: datetime) -> None:
    """RFC 3161 2.3: a critical EKU of id-kp-timeStamping only; and valid at genTime."""
    name = f"TSA certificate {_dn(cert)}"
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound as exc:
        raise TimestampError(f"{name}: expected {exc.oid._name}, found none") from None
    except ValueError as exc:
        raise TimestampError(f"{name}: malformed extensions ({_line(exc)})") from None
    if not eku.critical:
        raise TimestampError(f"{name}: expected a critical extendedKeyUsage, found non-critical")
    if list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        found = ", ".join(purpose._name for purpose in eku.value)
        raise TimestampError(f"{name}: expected extendedKeyUsage timeStamping only, found {found}")
    if not (usage.digital_signature or usage.content_commitment):
        raise TimestampError(f"{name}: expected keyUsage digitalSignature, found it absent")
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    if not start <= at <= end:
        raise TimestampError(
            f"{name}: expected valid at genTime {_iso(at)}, "
            f"found valid {_iso(start)} to {_iso(end)}"
        )


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # RFC 3339, as DESIGN.md


def _dn(cert: x509.Certificate, which: str = "subject") -> str:
    """RFC 4514 text of a certificate's name. cryptography parses names lazily, so a
    hostile certificate can fail here, long after it loaded."""
    try:
        return (cert.issuer if which == "issuer" else cert.subject).rfc4514_string()
    except (ValueError, KeyError):
        return "<unreadable name>"


def _line(exc: object) -> str:
    return " ".join(str(exc).split())  # messages stay one line, whatever a library says
