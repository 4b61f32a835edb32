"""Log checkpoints as C2SP signed notes (c2sp.org/signed-note, c2sp.org/tlog-checkpoint).

A checkpoint's text is three lines: the origin (``prov-case/<case uuid>``), the tree size in
decimal, and the RFC 9162 root hash in standard base64. The note is signed with Ed25519 under
the key name equal to the origin; the signature line carries the C2SP key hint
``SHA-256(name || 0x0A || 0x01 || public key)[:4]``, not prov's key id.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from provenance.base.untrusted import b64decode
from provenance.errors import CheckpointError, SignatureError, UntrustedInputError
from provenance.signing.keys import PublicKey, SigningKey

MAX_NOTE = 64 << 10
ED25519_TYPE = b"\x01"
ORIGIN_RE = re.compile(r"^[\x21-\x7e]+$")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def text(self) -> bytes:
        return (
            f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"
        ).encode()

    def one_line(self) -> str:
        return f"{self.origin} {self.size} sha256:{self.root.hex()}"


MAX_NAME = 255  # bytes of UTF-8: prov's bound, so a note stays far below MAX_NOTE


def note_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a signer in a signed note, or None. c2sp.org/signed-note:
    "Key names must be non-empty, well-formed UTF-8 containing neither Unicode spaces nor
    plus (U+002B)"; a signature line is split at its spaces, so a name holding one is read
    back as a malformed line. Control characters are refused too (``split_note`` does)."""
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "it is not well-formed UTF-8"
    if not name:
        return "it is empty"
    if size > MAX_NAME:
        return f"it is {size} bytes long, more than {MAX_NAME}"
    bad = next((c for c in name if c.isspace() or c == "+" or ord(c) < 0x20 or c == "\x7f"),
               None)
    if bad is not None:
        return f"it holds {bad!r} (no spaces, '+' or control characters in a note's names)"
    return None


def key_hint(name: str, key: PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519_TYPE + key.raw).digest()[:4]


def sign_note(text: bytes, name: str, key: SigningKey) -> bytes:
    """A signed note: text (ending in newline), blank line, one signature line."""
    if not text.endswith(b"\n"):
        raise ValueError("note text must end with a newline")
    if (problem := note_name_problem(name)) is not None:
        raise ValueError(f"bad signer name {name!r}: {problem}")
    blob = key_hint(name, key.public) + key.sign(text)
    return text + b"\n" + f"\u2014 {name} {base64.b64encode(blob).decode()}\n".encode()


def split_note(data: bytes, *, what: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    """(text, [(key name, hint+signature)]) of a signed note; ``CheckpointError`` if malformed."""
    if len(data) > MAX_NOTE:
        raise CheckpointError(f"{what}: note larger than {MAX_NOTE} bytes")
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CheckpointError(f"{what}: note is not UTF-8") from None
    if any(ord(c) < 0x20 and c != "\n" for c in decoded):
        raise CheckpointError(f"{what}: note holds control characters")
    cut = data.rfind(b"\n\n")
    if cut < 0 or not data.endswith(b"\n"):
        raise CheckpointError(f"{what}: no blank line before the signatures")
    text, sig_block = data[: cut + 1], data[cut + 2 :]
    signatures = []
    for line in sig_block.decode().splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014":
            raise CheckpointError(f"{what}: malformed signature line {line[:60]!r}")
        try:
            blob = b64decode(parts[2], what="signature")
        except UntrustedInputError:
            raise CheckpointError(f"{what}: signature is not base64") from None
        if len(blob) < 5:
            raise CheckpointError(f"{what}: signature too short")
        signatures.append((parts[1], blob))
    if not signatures:
        raise CheckpointError(f"{what}: note has no signature")
    return text, signatures


def verify_note(data: bytes, name: str, keys: Iterable[PublicKey], *, what: str) -> tuple[
    bytes, PublicKey
]:
    """The note text and the key that signed it under ``name``; raise if none of ``keys`` did."""
    text, signatures = split_note(data, what=what)
    candidates = {key_hint(name, k): k for k in keys}
    for sig_name, blob in signatures:
        key = candidates.get(blob[:4]) if sig_name == name else None
        if key is not None:
            key.verify(blob[4:], text, what=what)
            return text, key
    raise SignatureError(f"{what}: no signature under {name!r} by a trusted key")


COSIGNATURE_TYPE = b"\x04"


def cosigner_hint(name: str, key: PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + COSIGNATURE_TYPE + key.raw).digest()[:4]


def cosignature_message(text: bytes, timestamp: int) -> bytes:
    """c2sp.org/tlog-cosignature: ``cosignature/v1``, ``time <t>``, then the note text."""
    return b"cosignature/v1\ntime %d\n" % timestamp + text


def cosign(note: bytes, name: str, key: SigningKey, timestamp: int, *, what: str) -> bytes:
    """``note`` with an Ed25519 tlog-cosignature line by ``key`` under ``name`` appended."""
    if (problem := note_name_problem(name)) is not None:
        raise ValueError(f"bad cosigner name {name!r}: {problem}")
    text, _ = split_note(note, what=what)
    signature = key.sign(cosignature_message(text, timestamp))
    blob = cosigner_hint(name, key.public) + timestamp.to_bytes(8, "big") + signature
    return note + f"\u2014 {name} {base64.b64encode(blob).decode()}\n".encode()


def verify_cosignatures(note: bytes, keys: Iterable[PublicKey], *, what: str) -> tuple[
    bytes, list[tuple[str, PublicKey | None, int]]
]:
    """(note text, [(cosigner name, key or None if unknown, timestamp)]) for each line whose
    blob has a cosignature's shape; a known key's bad signature raises."""
    text, signatures = split_note(note, what=what)
    known = list(keys)
    found: list[tuple[str, PublicKey | None, int]] = []
    for name, blob in signatures:
        if len(blob) != 4 + 8 + 64:
            continue
        timestamp = int.from_bytes(blob[4:12], "big")
        match = next((k for k in known if cosigner_hint(name, k) == blob[:4]), None)
        if match is not None:
            match.verify(blob[12:], cosignature_message(text, timestamp), what=what)
        found.append((name, match, timestamp))
    return text, found


def parse_checkpoint(text: bytes, *, what: str) -> Checkpoint:
    try:
        lines = text.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        raise CheckpointError(f"{what}: checkpoint text is not UTF-8") from None
    if len(lines) < 4 or lines[-1] != "":
        raise CheckpointError(f"{what}: checkpoint text must have origin, size and root lines")
    origin, size, root = lines[0], lines[1], lines[2]
    if not ORIGIN_RE.match(origin):
        raise CheckpointError(f"{what}: bad origin line {origin[:60]!r}")
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise CheckpointError(f"{what}: bad size line {size[:30]!r}")
    try:
        root_bytes = b64decode(root, what="root")
    except UntrustedInputError:
        raise CheckpointError(f"{what}: root is not base64") from None
    if len(root_bytes) != 32:
        raise CheckpointError(f"{what}: root is {len(root_bytes)} bytes, expected 32")
    return Checkpoint(origin, int(size), root_bytes)


def sign_checkpoint(checkpoint: Checkpoint, key: SigningKey) -> bytes:
    return sign_note(checkpoint.text(), checkpoint.origin, key)


def verify_checkpoint(
    data: bytes, origin: str, keys: Iterable[PublicKey], *, what: str
) -> tuple[Checkpoint, PublicKey]:
    text, key = verify_note(data, origin, keys, what=what)
    checkpoint = parse_checkpoint(text, what=what)
    if checkpoint.origin != origin:
        raise CheckpointError(f"{what}: origin is {checkpoint.origin!r}, expected {origin!r}")
    return checkpoint, key


def read_unverified(data: bytes, *, what: str) -> Checkpoint:
    """Parse a checkpoint without checking its signature (to decide what to verify)."""
    text, _ = split_note(data, what=what)
    return parse_checkpoint(text, what=what)
