"""DSSE envelopes (Dead Simple Signing Envelope v1) in RFC 8785 canonical JSON.

The signature covers the pre-authentication encoding (PAE) of payload type and payload, so
a signature for one kind of statement can never be replayed as another. The envelope bytes
are stored exactly as produced; verification checks the signature over the payload bytes
first and only then lets a caller parse them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass

import rfc8785

from provenance.base.untrusted import b64decode, load_json
from provenance.errors import EnvelopeError, SignatureError, UntrustedInputError
from provenance.signing.keys import PublicKey, SigningKey

MAX_ENVELOPE = 16 << 20


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[tuple[str, bytes], ...]  # (keyid, signature)


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 PAE: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def sign_envelope(payload_type: str, payload: bytes, key: SigningKey) -> bytes:
    """The RFC 8785 bytes of a one-signature envelope (no trailing newline)."""
    signature = key.sign(pae(payload_type, payload))
    return rfc8785.dumps(
        {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": payload_type,
            "signatures": [{"keyid": key.key_id, "sig": base64.b64encode(signature).decode()}],
        }
    )


def parse_envelope(data: bytes, *, what: str) -> Envelope:
    """Parse envelope bytes strictly; ``EnvelopeError`` names ``what`` on any defect."""
    if len(data) > MAX_ENVELOPE:
        raise EnvelopeError(f"{what}: envelope larger than {MAX_ENVELOPE} bytes")
    try:
        doc = load_json(data, what=what, limit=MAX_ENVELOPE)
        if not isinstance(doc, dict) or set(doc) != {"payload", "payloadType", "signatures"}:
            raise ValueError("fields are not payload, payloadType, signatures")
        payload = b64decode(doc["payload"], what=f"{what}: payload", dsse=True)
        kind = doc["payloadType"]
        sigs = doc["signatures"]
        if not isinstance(kind, str) or not isinstance(sigs, list) or not sigs:
            raise ValueError("bad payloadType or signatures")
        signatures = tuple(
            (str(s["keyid"]), b64decode(s["sig"], what=f"{what}: sig", dsse=True)) for s in sigs
        )
    except UntrustedInputError as exc:
        raise EnvelopeError(f"not a DSSE envelope: {exc}") from None
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError) as exc:
        raise EnvelopeError(f"{what}: not a DSSE envelope ({exc})") from None
    return Envelope(kind, payload, signatures)


def verify_envelope(
    envelope: Envelope,
    *,
    payload_type: str,
    trusted: Mapping[str, PublicKey],
    what: str,
) -> str:
    """Check type and signature; return the id of the trusted key that signed it."""
    key_id, key, signature, message = signed_by(envelope, payload_type=payload_type,
                                                 trusted=trusted, what=what)
    key.verify(signature, message, what=what)
    return key_id


def signed_by(
    envelope: Envelope,
    *,
    payload_type: str,
    trusted: Mapping[str, PublicKey],
    what: str,
) -> tuple[str, PublicKey, bytes, bytes]:
    """Check type; the signature ``verify_envelope`` checks, not yet checked: the id and key of
    the first trusted signer, its signature and the signed message (the PAE)."""
    if envelope.payload_type != payload_type:
        raise EnvelopeError(
            f"{what}: payloadType is {envelope.payload_type!r}, expected {payload_type!r}"
        )
    message = pae(envelope.payload_type, envelope.payload)
    for key_id, signature in envelope.signatures:
        key = trusted.get(key_id)
        if key is not None:
            return key_id, key, signature, message
    ids = ", ".join(k for k, _ in envelope.signatures)
    raise SignatureError(f"{what}: signed by {ids}, which is not a trusted key")
