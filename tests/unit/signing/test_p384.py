"""provenance.signing.p384: WebCrypto-style ECDSA P-384 signatures (raw r||s) for WACZ."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from provenance.errors import KeyFileError, SignatureError
from provenance.signing.keys import SigningKey, key_path
from provenance.signing.p384 import (
    COORD,
    P384PublicKey,
    P384SigningKey,
    load_or_create,
    p384_path,
)

MESSAGE = b"sha256:" + b"ab" * 32


def test_a_raw_signature_verifies_and_a_changed_message_does_not() -> None:
    key = P384SigningKey.generate()
    public = key.public
    signature = key.sign_raw(MESSAGE)
    assert len(signature) == 2 * COORD
    public.verify_raw(signature, MESSAGE, what="wacz")
    with pytest.raises(SignatureError, match="does not verify"):
        public.verify_raw(signature, MESSAGE + b"0", what="wacz")
    with pytest.raises(SignatureError, match="does not verify"):
        P384SigningKey.generate().public.verify_raw(signature, MESSAGE, what="wacz")


def test_a_signature_of_the_wrong_length_is_refused() -> None:
    public = P384SigningKey.generate().public
    with pytest.raises(SignatureError, match="expected 96"):
        public.verify_raw(b"\x01" * 95, MESSAGE, what="wacz")


def test_public_key_round_trips_through_base64_and_pem(tmp_path: Path) -> None:
    public = P384SigningKey.generate().public
    assert P384PublicKey.from_b64(public.b64, what="wacz") == public
    (tmp_path / "k.p384.pub").write_bytes(public.pem())
    assert P384PublicKey.load(tmp_path / "k.p384.pub") == public
    assert public.key_id.startswith("ecdsa-p384:") and len(public.key_id) == 11 + 64


def test_a_p256_key_or_junk_is_not_a_p384_key(tmp_path: Path) -> None:
    p256 = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (tmp_path / "p256.pub").write_bytes(p256)
    with pytest.raises(KeyFileError, match="not a PEM P-384 public key"):
        P384PublicKey.load(tmp_path / "p256.pub")
    for text in ("not base64!", "", 42):
        with pytest.raises(SignatureError, match="publicKey is not a P-384 public key"):
            P384PublicKey.from_b64(text, what="wacz")


def test_private_key_round_trips_under_a_passphrase_and_refuses_a_wrong_one() -> None:
    key = P384SigningKey.generate()
    pem = key.private_pem(b"a long passphrase")
    again = P384SigningKey.from_pem(pem, "k", lambda: b"a long passphrase")
    key.public.verify_raw(again.sign_raw(MESSAGE), MESSAGE, what="wacz")
    with pytest.raises(KeyFileError):
        P384SigningKey.from_pem(pem, "k", lambda: b"wrong")
    with pytest.raises(KeyFileError, match="no passphrase"):
        P384SigningKey.from_pem(pem, "k", lambda: None)


def test_load_or_create_makes_the_key_once_encrypted_like_the_ed25519_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROV_HOME", str(tmp_path))
    ed25519 = SigningKey.generate("k")
    key_path("k").parent.mkdir(parents=True)
    key_path("k").write_bytes(ed25519.private_pem(b"a long passphrase"))
    with pytest.raises(KeyFileError, match="no passphrase"):
        load_or_create("k", lambda: None)
    made = load_or_create("k", lambda: b"a long passphrase")
    assert b"ENCRYPTED PRIVATE KEY" in p384_path("k").read_bytes()
    assert P384PublicKey.load(tmp_path / "keys" / "k.p384.pub") == made.public
    again = load_or_create("k", lambda: b"a long passphrase")
    assert again.public == made.public


def test_an_encrypted_key_is_read_with_its_passphrase_and_refused_without() -> None:
    key = P384SigningKey.generate()
    pem = key.private_pem(b"right")
    loaded = P384SigningKey.from_pem(pem, "w", lambda: b"right")
    assert loaded.public.key_id == key.public.key_id
    with pytest.raises(KeyFileError, match="P-384 key 'w' is encrypted and no passphrase"):
        P384SigningKey.from_pem(pem, "w", lambda: None)
    with pytest.raises(KeyFileError, match="cannot load P-384 key 'w': wrong passphrase"):
        P384SigningKey.from_pem(pem, "w", lambda: b"wrong")
    with pytest.raises(KeyFileError, match="key 'w': not an ECDSA P-384 key"):
        P384SigningKey.from_pem(SigningKey.generate("w").private_pem(None), "w", lambda: None)
