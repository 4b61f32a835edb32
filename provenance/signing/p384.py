"""ECDSA P-384 keys for signing WACZ packages (WACZ Signing and Verification 0.1.0, the
"anonymous" form: a signature and the public key, key management left to the verifier).

ReplayWeb.page and ArchiveWeb.page sign and verify with WebCrypto: ECDSA on P-384 with
SHA-256, over the UTF-8 bytes of the ``sha256:<hex>`` string of ``datapackage.json``, the
signature in WebCrypto's raw form (r and s, 48 bytes each, big-endian, not DER) and the
public key as base64 DER SubjectPublicKeyInfo. The key lives beside the operator's Ed25519
key as ``$PROV_HOME/keys/NAME.p384.key`` (PKCS#8, encrypted with the same passphrase, 0600)
and ``NAME.p384.pub``; a DSSE statement signed by the Ed25519 key binds the two.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from provenance.base import home
from provenance.base.untrusted import b64decode
from provenance.errors import KeyFileError, SignatureError, UntrustedInputError
from provenance.signing.keys import key_path, load_private_pem, read_key_file, write_private_file

COORD = 48  # bytes of r and of s on P-384
KEY_ID_PREFIX = "ecdsa-p384:"
P384_PUB_SUFFIX = ".p384.pub"  # NAME.p384.pub beside NAME.pub: never read as an Ed25519 key


@dataclass(frozen=True)
class P384PublicKey:
    """A P-384 public key as DER SubjectPublicKeyInfo (what WebCrypto exports as "spki")."""

    spki: bytes

    @property
    def key_id(self) -> str:
        return KEY_ID_PREFIX + hashlib.sha256(self.spki).hexdigest()

    @property
    def b64(self) -> str:
        return base64.b64encode(self.spki).decode()

    def pem(self) -> bytes:
        return _load_public(self.spki).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    @classmethod
    def from_b64(cls, text: object, *, what: str) -> P384PublicKey:
        """The key in a ``publicKey`` field; ``SignatureError`` unless it is a P-384 key."""
        try:
            spki = b64decode(text, what="publicKey")
            _load_public(spki)
        except (UntrustedInputError, ValueError) as exc:
            raise SignatureError(f"{what}: publicKey is not a P-384 public key ({exc})") from None
        return cls(spki)

    @classmethod
    def load(cls, path: Path) -> P384PublicKey:
        """A ``NAME.p384.pub`` PEM file; ``KeyFileError`` unless it holds a P-384 key."""
        try:
            spki = serialization.load_pem_public_key(read_key_file(path)).public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            _load_public(spki)
        except (ValueError, TypeError):
            raise KeyFileError(f"{path}: not a PEM P-384 public key") from None
        return cls(spki)

    def verify_raw(self, signature: bytes, message: bytes, *, what: str) -> None:
        """Check a WebCrypto ECDSA signature (raw r||s) with SHA-256 over ``message``."""
        if len(signature) != 2 * COORD:
            raise SignatureError(f"{what}: signature is {len(signature)} bytes, expected "
                                 f"{2 * COORD} (raw r||s on P-384)")
        r = int.from_bytes(signature[:COORD], "big")
        s = int.from_bytes(signature[COORD:], "big")
        try:
            _load_public(self.spki).verify(encode_dss_signature(r, s), message,
                                           ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            raise SignatureError(f"{what}: P-384 signature by {self.key_id[:43]} does not "
                                 "verify") from None


def _load_public(spki: bytes) -> ec.EllipticCurvePublicKey:
    key = serialization.load_der_public_key(spki)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp384r1":
        raise ValueError("not an ECDSA P-384 key")
    return key


class P384SigningKey:
    """The operator's P-384 private key."""

    def __init__(self, private: ec.EllipticCurvePrivateKey) -> None:
        self._private = private
        self.public = P384PublicKey(private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))

    @classmethod
    def generate(cls) -> P384SigningKey:
        return cls(ec.generate_private_key(ec.SECP384R1()))

    def sign_raw(self, message: bytes) -> bytes:
        """ECDSA with SHA-256 over ``message``, as raw r||s (WebCrypto's form)."""
        r, s = decode_dss_signature(self._private.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(COORD, "big") + s.to_bytes(COORD, "big")

    def private_pem(self, passphrase: bytes | None) -> bytes:
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase) if passphrase
            else serialization.NoEncryption())
        return self._private.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8, encryption)

    @classmethod
    def from_pem(cls, data: bytes, name: str, passphrase: Callable[[], bytes | None]
                 ) -> P384SigningKey:
        key = load_private_pem(data, f"P-384 key {name!r}", passphrase)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp384r1":
            raise KeyFileError(f"key {name!r}: not an ECDSA P-384 key")
        return cls(key)


def p384_path(name: str) -> Path:
    """``$PROV_HOME/keys/NAME.p384.key``, beside the Ed25519 ``NAME.key``."""
    return key_path(name).with_name(f"{name}.p384.key")


def load_or_create(name: str, passphrase: Callable[[], bytes | None]) -> P384SigningKey:
    """The P-384 key of NAME, made on first use. It is encrypted exactly when the Ed25519
    key is, with the same passphrase."""
    path = p384_path(name)
    if path.exists():
        return P384SigningKey.from_pem(read_key_file(path), name, passphrase)
    ed25519 = read_key_file(key_path(name))
    secret = passphrase() if b"ENCRYPTED PRIVATE KEY" in ed25519 else None
    if b"ENCRYPTED PRIVATE KEY" in ed25519 and not secret:
        raise KeyFileError(f"key {name!r} is encrypted and no passphrase was given",
                           hint="set PROV_KEY_PASSPHRASE_FILE or PROV_KEY_PASSPHRASE, or run "
                           "`prov keys unlock` first")
    key = P384SigningKey.generate()
    home.ensure_private_dir(path.parent)
    write_private_file(path, key.private_pem(secret))
    path.with_name(f"{name}{P384_PUB_SUFFIX}").write_bytes(key.public.pem())
    return key
