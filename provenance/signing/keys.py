"""Ed25519 signing keys (RFC 8032) and their identifiers.

A key id is ``ed25519:`` and the full lowercase hex sha256 of the raw 32-byte public key.
Private keys are stored as PKCS#8 PEM, encrypted with a passphrase (best available
encryption) unless the operator opted out with ``--unsafe-no-passphrase``; files are 0600.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from archive.errors import ConfigError
from provenance.base import home
from provenance.base.untrusted import read_named
from provenance.errors import KeyFileError, SignatureError

KEY_ID_RE = re.compile(r"^ed25519:[0-9a-f]{64}$")
MAX_KEY_FILE = 64 << 10


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key."""

    raw: bytes

    @property
    def key_id(self) -> str:
        return "ed25519:" + hashlib.sha256(self.raw).hexdigest()

    @property
    def short_id(self) -> str:
        return self.key_id[: len("ed25519:") + 32]

    def pem(self) -> bytes:
        return Ed25519PublicKey.from_public_bytes(self.raw).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def verify(self, signature: bytes, data: bytes, *, what: str) -> None:
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, data)
        except InvalidSignature:
            raise SignatureError(
                f"{what}: signature by {self.short_id} does not verify"
            ) from None

    @classmethod
    def from_pem(cls, data: bytes, *, source: str = "key") -> PublicKey:
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError):
            raise KeyFileError(f"{source}: not a PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFileError(f"{source}: not an Ed25519 public key")
        return cls(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))

    @classmethod
    def load(cls, path: Path) -> PublicKey:
        return cls.from_pem(read_key_file(path), source=str(path))


def verify_batch(items: Sequence[tuple[bytes, bytes, bytes]]) -> list[int]:
    """The indexes of the (raw public key, signature, message) triples whose Ed25519 signature
    does not verify: ``PublicKey.verify``'s check, many at a time (a worker's batch; each key
    loaded once). Anything but a signature that does not verify raises."""
    loaded: dict[bytes, Ed25519PublicKey] = {}
    bad: list[int] = []
    for i, (raw, signature, message) in enumerate(items):
        key = loaded.get(raw)
        if key is None:
            key = loaded[raw] = Ed25519PublicKey.from_public_bytes(raw)
        try:
            key.verify(signature, message)
        except InvalidSignature:
            bad.append(i)
    return bad


class SigningKey:
    """An Ed25519 private key with a local name."""

    def __init__(self, private: Ed25519PrivateKey, name: str) -> None:
        self._private = private
        self.name = name
        self.public = PublicKey(
            private.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        )

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    @classmethod
    def generate(cls, name: str) -> SigningKey:
        return cls(Ed25519PrivateKey.generate(), name)

    @classmethod
    def from_seed(cls, seed: bytes, name: str) -> SigningKey:
        """A deterministic key (golden tests)."""
        return cls(Ed25519PrivateKey.from_private_bytes(seed), name)

    def private_pem(self, passphrase: bytes | None) -> bytes:
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        return self._private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    @classmethod
    def from_pem(cls, data: bytes, name: str, passphrase: Callable[[], bytes | None]) -> SigningKey:
        key = load_private_pem(data, f"key {name!r}", passphrase)
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"key {name!r} is not an Ed25519 key")
        return cls(key, name)


def load_private_pem(data: bytes, label: str,
                     passphrase: Callable[[], bytes | None]) -> PrivateKeyTypes:
    """The private key in a PKCS#8 PEM file prov wrote, decrypted with ``passphrase()`` when
    it is encrypted (asked only then); ``KeyFileError`` names ``label`` and what went wrong."""
    encrypted = b"ENCRYPTED PRIVATE KEY" in data
    secret = passphrase() if encrypted else None
    if encrypted and not secret:
        raise KeyFileError(f"{label} is encrypted and no passphrase was given",
                           hint="set PROV_KEY_PASSPHRASE_FILE or PROV_KEY_PASSPHRASE, or run "
                                "`prov keys unlock` first")
    try:
        return serialization.load_pem_private_key(data, password=secret)
    except ValueError as exc:
        reason = "wrong passphrase" if encrypted else "corrupt key file"
        if "Bad decrypt" not in str(exc) and encrypted:
            reason = "wrong passphrase or corrupt key file"
        raise KeyFileError(f"cannot load {label}: {reason}") from None
    except TypeError:
        raise KeyFileError(f"cannot load {label}: corrupt key file") from None


def read_key_file(path: Path) -> bytes:
    """A key or passphrase file the operator keeps (``KeyFileError`` past ``MAX_KEY_FILE``)."""
    return read_named(path, MAX_KEY_FILE, error=KeyFileError)


def parse_key_id(text: str) -> str:
    if not KEY_ID_RE.match(text):
        raise ConfigError(f"not a key id: {text!r} (expected ed25519:<64 hex digits>)")
    return text


def write_private_file(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def env_passphrase() -> bytes | None:
    """The passphrase from PROV_KEY_PASSPHRASE_FILE or PROV_KEY_PASSPHRASE, if set."""
    file_name = os.environ.get("PROV_KEY_PASSPHRASE_FILE")
    if file_name:
        data = read_key_file(Path(file_name))
        return data.rstrip(b"\r\n")
    value = os.environ.get("PROV_KEY_PASSPHRASE")
    return value.encode() if value else None


def key_path(name: str) -> Path:
    """``$PROV_HOME/keys/NAME.key``. A name ending ``.p384`` is refused: ``NAME.p384.key``
    is where the WACZ signing key of NAME lives (``provenance.signing.p384``)."""
    if not home.valid_name(name) or name.endswith(".p384"):
        raise ConfigError(f"bad key name {name!r} (letters, digits, '.', '_' and '-', "
                          "not ending in .p384)")
    return home.keys_dir() / f"{name}.key"
