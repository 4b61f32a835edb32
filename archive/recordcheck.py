"""Checking the digests of every record in a WARC file, in one streaming pass.

Block and payload digests (WARC 1.1 sections 5.8-5.9) may be labelled sha1, sha256, sha512
or md5 and encoded in base32 or base16 (IIPC "WARC digests" recommendation): both decode to
raw bytes before comparison. The payload is the block after the HTTP header block, chunk
framing included; when that does not match, the transfer-decoded form is tried too and the
result says which matched. Alongside, the file's own sha256 and each record's RFC 9162 leaf
hash (``0x00`` and the complete uncompressed record) are computed in the same pass.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from archive.chunked import Dechunker
from archive.reader import READ_CHUNK, RecordHead, WarcReader
from archive.warc import LEAF_PREFIX

HTTP_TYPES = ("application/http",)
HEADER_END = re.compile(rb"\r?\n\r?\n")
MAX_HTTP_HEAD = 1 << 20
ALGORITHMS = {"sha1": 20, "sha256": 32, "sha512": 64, "md5": 16}


def decode_digest(label: str) -> tuple[str, bytes] | None:
    """("sha256", raw bytes) for a ``algo:value`` label in base16 or base32; None if unusable."""
    algo, sep, value = label.strip().partition(":")
    algo = algo.lower().replace("-", "")
    if not sep or algo not in ALGORITHMS:
        return None
    size = ALGORITHMS[algo]
    value = value.strip()
    if len(value) == size * 2:  # base16; a padded base32 md5 has this length too
        try:
            return algo, bytes.fromhex(value)
        except ValueError:
            pass
    try:
        raw = base64.b32decode(value.upper() + "=" * (-len(value) % 8))
    except (ValueError, binascii.Error):
        return None
    return (algo, raw) if len(raw) == size else None


class _HashingReader:
    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.hash.update(data)
        self.size += len(data)
        return data


@dataclass
class DigestCheck:
    """One digest header against the bytes: ``pass``, ``fail``, ``absent`` or ``unusable``."""

    status: str
    declared: str | None = None
    computed: str | None = None
    form: str | None = None  # for payloads: "as recorded" or "transfer-decoded"


@dataclass
class RecordCheck:
    head: RecordHead
    leaf_hash: bytes
    block: DigestCheck
    payload: DigestCheck
    problems: list[str] = field(default_factory=list)


class _Digester:
    """Hashes a record's block, and its HTTP payload once the header block has gone by."""

    def __init__(self, head: RecordHead) -> None:
        self.block_label = head.get("WARC-Block-Digest")
        self.payload_label = head.get("WARC-Payload-Digest")
        self.block_declared = decode_digest(self.block_label) if self.block_label else None
        self.payload_declared = decode_digest(self.payload_label) if self.payload_label else None
        self.block_algo = self.block_declared[0] if self.block_declared else None
        self.payload_algo = self.payload_declared[0] if self.payload_declared else None
        self.block = _new_hash(self.block_algo)
        self.payload = _new_hash(self.payload_algo)
        self.is_http = (head.get("Content-Type") or "").lower().startswith(HTTP_TYPES)
        self.head_buf: bytearray | None = bytearray() if self.is_http else None
        self.http_head: bytes | None = None
        self.dechunker: Dechunker | None = None
        self.decoded = self.payload  # replaced by its own hash once a chunked body shows

    def update(self, chunk: bytes) -> None:
        self.block.update(chunk)
        if self.head_buf is None:
            if self.http_head is not None:
                self._payload(chunk)
            return
        self.head_buf += chunk
        match = HEADER_END.search(self.head_buf)
        if match is None:
            if len(self.head_buf) > MAX_HTTP_HEAD:
                self.head_buf = None
            return
        self.http_head = bytes(self.head_buf[: match.end()])
        if _is_chunked(self.http_head):
            self.dechunker = Dechunker()
            self.decoded = _new_hash(self.payload_algo)
        rest = bytes(self.head_buf[match.end():])
        self.head_buf = None
        self._payload(rest)

    def _payload(self, chunk: bytes) -> None:
        self.payload.update(chunk)
        if self.dechunker is not None:
            self.decoded.update(self.dechunker.feed(chunk))


def _is_chunked(http_head: bytes) -> bool:
    for line in http_head.split(b"\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
            return True
    return False


_CONSTRUCTORS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512,
                 "md5": hashlib.md5}


def _new_hash(algo: str | None) -> hashlib._Hash:
    return _CONSTRUCTORS[algo or "sha256"]()


def _compare(label: str | None, decoded: tuple[str, bytes] | None,
             computed: bytes) -> DigestCheck:
    if label is None:
        return DigestCheck("absent")
    if decoded is None:
        return DigestCheck("unusable", label)
    shown = f"{decoded[0]}:{computed.hex()}"
    status = "pass" if decoded[1] == computed else "fail"
    return DigestCheck(status, label, shown, "as recorded")


def iter_checks(stream: BinaryIO) -> tuple[_HashingReader, Iterator[RecordCheck]]:
    """A hashing wrapper (its ``hash`` is the file's sha256 once iteration ends) and checks."""
    hashing = _HashingReader(stream)
    reader = WarcReader(hashing)  # type: ignore[arg-type]

    def run() -> Iterator[RecordCheck]:
        for head in reader:
            leaf = hashlib.sha256(LEAF_PREFIX)
            leaf.update(head.header_bytes)
            digester = _Digester(head)
            for chunk in reader.iter_block(READ_CHUNK):
                leaf.update(chunk)
                digester.update(chunk)
            leaf.update(b"\r\n\r\n")
            yield _finish(head, leaf.digest(), digester)
        while hashing.read(READ_CHUNK):
            pass

    return hashing, run()


class BlockChecker:
    """One record's block and payload digests, its block fed in pieces (no leaf hash)."""

    def __init__(self, head: RecordHead) -> None:
        self._head = head
        self._digester = _Digester(head)
        self.update = self._digester.update

    def finish(self) -> RecordCheck:
        return _finish(self._head, b"", self._digester)


def _finish(head: RecordHead, leaf: bytes, digester: _Digester) -> RecordCheck:
    block = _compare(digester.block_label, digester.block_declared, digester.block.digest())
    payload_label = digester.payload_label
    if head.warc_type == "revisit":
        payload = DigestCheck("absent" if payload_label is None else "unchecked", payload_label)
    elif payload_label is not None and digester.is_http and digester.http_head is None:
        payload = DigestCheck("fail", payload_label, None, "no HTTP header block found")
    else:
        payload = _compare(payload_label, digester.payload_declared, digester.payload.digest())
        if payload.status == "fail" and digester.dechunker is not None:
            decoded = _compare(payload_label, digester.payload_declared,
                               digester.decoded.digest())
            if decoded.status == "pass":
                payload = DigestCheck("pass", payload_label, decoded.computed, "transfer-decoded")
    check = RecordCheck(head, leaf, block, payload)
    if head.warc_type in ("response", "request", "resource", "revisit", "metadata"):
        for name in ("WARC-Record-ID", "WARC-Date"):
            if head.get(name) is None:
                check.problems.append(f"missing {name}")
    return check
