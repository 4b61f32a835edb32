"""Checking the digests of every record in a WARC file, in one streaming pass.

Block and payload digests (WARC 1.1 sections 5.8-5.9) may be labelled sha1, sha224, sha256,
sha384, sha512, sha3 or md5 and encoded in base16, base32 or base64 (IIPC "WARC digests"
recommendation; warcio also writes base64): each decodes to raw bytes before comparison, and a
label that does not decode, or names an algorithm prov does not know, is ``unusable``: it
cannot be checked, which callers treat as a failure.

The payload is what the record type makes it (``payload_kind``): the entity-body of an
``application/http`` block (5.9), HTTP chunk framing included, with the transfer-decoded form
tried when that does not match; the block itself for ``resource`` and ``conversion`` records
(6.4, 6.8) and for responses of other schemes such as ``dns:``; nothing for ``warcinfo`` and
``metadata`` records (4), whose payload digest, if equal to the block's, is ``misplaced``; the
original's for a revisit (6.7) and the logical record's for a segment (7), which one record
alone cannot check. Alongside, the file's own sha256 and each record's RFC 9162 leaf hash
(``0x00`` and the complete uncompressed record) are computed in the same pass.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from archive.warc.chunked import Dechunker
from archive.warc.reader import READ_CHUNK, RecordHead, WarcReader
from archive.warc.writer import LEAF_PREFIX

HTTP_TYPES = ("application/http",)
HEADER_END = re.compile(rb"\r?\n\r?\n")
MAX_HTTP_HEAD = 1 << 20
ALGORITHMS = {"sha1": 20, "sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64, "md5": 16,
              "sha3-256": 32, "sha3-512": 64}
_NAMES = {**{a: a for a in ALGORITHMS}, "sha-1": "sha1", "sha-224": "sha224",
          "sha-256": "sha256", "sha-384": "sha384", "sha-512": "sha512",
          "sha3_256": "sha3-256", "sha3_512": "sha3-512"}
_HEX = frozenset("0123456789abcdefABCDEF")
_B32 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
# How each record type defines its payload (WARC 1.1 sections 4, 5.9, 6.3-6.9, 7).
HTTP, BLOCK, NONE, REVISIT, SEGMENT = "http", "block", "none", "revisit", "segment"
WHOLE_BLOCK = "declared equal to the block digest"  # a payload digest taken over the block


class DigestError(ValueError):
    """A labelled digest that cannot be checked: unknown algorithm or undecodable value."""


def parse_digest(label: str) -> tuple[str, tuple[bytes, ...]]:
    """(algorithm, raw values) of an ``algo:value`` label whose value is base16, base32 or
    base64 (standard or URL-safe, padded or not). Each encoding has its own length for a given
    algorithm, so there is one value, save for a value that fits two alphabets at once.
    Raises ``DigestError`` saying why the label cannot be checked."""
    name, sep, value = label.strip().partition(":")
    algo = _NAMES.get(name.strip().lower())
    if not sep:
        raise DigestError("digest label is not algorithm:value")
    if algo is None:
        raise DigestError(f"digest algorithm {name.strip()[:20]!r} is not one prov knows "
                          f"({', '.join(ALGORITHMS)})")
    size = ALGORITHMS[algo]
    value = value.strip()
    bare = value.rstrip("=")
    values: list[bytes] = []
    if len(value) == size * 2 and _HEX.issuperset(value):
        values.append(bytes.fromhex(value))
    if len(bare) == -(-size * 8 // 5) and _B32.issuperset(bare.upper()):
        values.append(base64.b32decode(bare.upper() + "=" * (-len(bare) % 8)))
    if len(bare) == -(-size * 4 // 3) and _B64.issuperset(bare):
        with contextlib.suppress(ValueError, binascii.Error):
            values.append(base64.b64decode(bare.replace("-", "+").replace("_", "/") +
                                           "=" * (-len(bare) % 4), validate=True))
    values = [v for v in values if len(v) == size]
    if not values:
        raise DigestError(f"{algo} digest value {value[:24]!r} is not base16, base32 or base64 "
                          f"of {size} bytes")
    return algo, tuple(values)


def decode_digest(label: str) -> tuple[str, tuple[bytes, ...]] | None:
    """``parse_digest``, or None for a label that cannot be checked."""
    try:
        return parse_digest(label)
    except DigestError:
        return None


def payload_kind(head: RecordHead, *, logical: bool = False) -> str:
    """What the payload of this record is, by its type and content type; with ``logical``,
    of the logical record that a first segment begins."""
    kind = head.warc_type
    if kind == "revisit":
        return REVISIT  # the original's payload (6.7)
    if kind in ("warcinfo", "metadata"):
        return NONE  # "shall not have a payload" (4)
    if not logical and (kind == "continuation" or head.get("WARC-Segment-Number") is not None):
        return SEGMENT  # the logical record's payload (5.9, 7)
    if kind in ("resource", "conversion"):
        return BLOCK  # "the payload is defined as the record block" (6.4, 6.8)
    if (head.get("Content-Type") or "").lower().startswith(HTTP_TYPES):
        return HTTP  # "the payload of an application/http block is its entity-body" (5.9)
    return BLOCK  # a response or request of another scheme (dns:): its content is the block


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
    """One digest header against the bytes. ``status``: ``pass``, ``fail``, ``absent``,
    ``unusable`` (declared, but of an unknown algorithm or undecodable: ``form`` says which),
    ``unchecked`` (a revisit's: it is the original's), ``segmented`` (the logical record's, of
    which this record is one segment) or ``misplaced`` (on a record that has no payload, and
    equal to its block's)."""

    status: str
    declared: str | None = None
    computed: str | None = None
    form: str | None = None  # what was hashed: "as recorded", "transfer-decoded", "the block"


@dataclass
class RecordCheck:
    head: RecordHead
    leaf_hash: bytes
    block: DigestCheck
    payload: DigestCheck
    problems: list[str] = field(default_factory=list)


def _declared(label: str | None) -> tuple[tuple[str, tuple[bytes, ...]] | None, str | None]:
    if label is None:
        return None, None
    try:
        return parse_digest(label), None
    except DigestError as exc:
        return None, str(exc)


class _Digester:
    """Hashes a record's block, and its payload as the record's type defines it."""

    def __init__(self, head: RecordHead, logical: bool = False) -> None:
        self.kind = payload_kind(head, logical=logical)
        self.block_label = head.get("WARC-Block-Digest")
        self.payload_label = head.get("WARC-Payload-Digest")
        self.block_declared, self.block_error = _declared(self.block_label)
        self.payload_declared, self.payload_error = _declared(self.payload_label)
        block_algo = self.block_declared[0] if self.block_declared else None
        self.payload_algo = self.payload_declared[0] if self.payload_declared else None
        self.block = _new_hash(block_algo) if block_algo else None
        self.payload: hashlib._Hash | None = None
        self.same_as_block = False  # the payload is the block, hashed by the same algorithm
        self.head_buf: bytearray | None = None
        if self.payload_algo is not None and self.kind in (BLOCK, NONE):
            self.same_as_block = self.payload_algo == block_algo
            if not self.same_as_block:
                self.payload = _new_hash(self.payload_algo)
        elif self.payload_algo is not None and self.kind == HTTP:
            self.payload = _new_hash(self.payload_algo)
            self.head_buf = bytearray()
        self.http_head: bytes | None = None
        self.dechunker: Dechunker | None = None
        self.decoded: hashlib._Hash | None = None

    def update(self, chunk: bytes) -> None:
        if self.block is not None:
            self.block.update(chunk)
        if self.payload is None:
            return
        if self.kind != HTTP:
            self.payload.update(chunk)
        elif self.head_buf is not None:
            self._head(chunk)
        elif self.http_head is not None:
            self._payload(chunk)

    def _head(self, chunk: bytes) -> None:
        assert self.head_buf is not None
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
        assert self.payload is not None
        self.payload.update(chunk)
        if self.dechunker is not None and self.decoded is not None:
            self.decoded.update(self.dechunker.feed(chunk))

    def block_check(self) -> DigestCheck:
        if self.block_label is None:
            return DigestCheck("absent")
        if self.block_declared is None or self.block is None:
            return DigestCheck("unusable", self.block_label, None, self.block_error)
        return _compare(self.block_label, self.block_declared, self.block.digest(), "the block")

    def payload_check(self, block: DigestCheck) -> DigestCheck:
        label, declared = self.payload_label, self.payload_declared
        if label is None:
            return DigestCheck("absent")
        if declared is None:
            return DigestCheck("unusable", label, None, self.payload_error)
        if self.kind == REVISIT:
            return DigestCheck("unchecked", label)
        if self.kind == SEGMENT:
            return DigestCheck("segmented", label)
        if self.kind == HTTP:
            return self._http_payload(label, declared)
        if self.same_as_block:
            assert self.block is not None
            computed = self.block.digest()
        else:
            assert self.payload is not None
            computed = self.payload.digest()
        check = _compare(label, declared, computed, "the block")
        if self.kind == NONE and check.status == "pass":
            check.status = "misplaced"
        return check

    def _http_payload(self, label: str, declared: tuple[str, tuple[bytes, ...]]) -> DigestCheck:
        if self.http_head is None or self.payload is None:
            return DigestCheck("fail", label, None, "no HTTP header block found")
        check = _compare(label, declared, self.payload.digest(), "as recorded")
        if check.status == "fail" and self.decoded is not None:
            decoded = _compare(label, declared, self.decoded.digest(), "transfer-decoded")
            if decoded.status == "pass":
                return decoded
        if check.status == "fail" and label.strip() == (self.block_label or "").strip():
            check.form = WHOLE_BLOCK
        return check


def _is_chunked(http_head: bytes) -> bool:
    for line in http_head.split(b"\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
            return True
    return False


_CONSTRUCTORS = {"sha1": hashlib.sha1, "sha224": hashlib.sha224, "sha256": hashlib.sha256,
                 "sha384": hashlib.sha384, "sha512": hashlib.sha512, "md5": hashlib.md5,
                 "sha3-256": hashlib.sha3_256, "sha3-512": hashlib.sha3_512}


def _new_hash(algo: str | None) -> hashlib._Hash:
    return _CONSTRUCTORS[algo or "sha256"]()


def _compare(label: str, declared: tuple[str, tuple[bytes, ...]], computed: bytes,
             form: str) -> DigestCheck:
    if computed in declared[1]:  # what matched needs no repeating
        return DigestCheck("pass", label, None, form)
    return DigestCheck("fail", label, f"{declared[0]}:{computed.hex()}", form)


def iter_checks(stream: BinaryIO) -> tuple[_HashingReader, Iterator[RecordCheck]]:
    """A hashing wrapper (its ``hash`` is the file's sha256 once iteration ends) and checks."""
    hashing = _HashingReader(stream)
    reader = WarcReader(hashing)  # type: ignore[arg-type]

    def run() -> Iterator[RecordCheck]:
        for head in reader:
            leaf = hashlib.sha256(LEAF_PREFIX)
            leaf.update(head.header_bytes)
            checker = BlockChecker(head)
            for chunk in reader.iter_block(READ_CHUNK):
                leaf.update(chunk)
                checker.update(chunk)
            leaf.update(b"\r\n\r\n")
            yield _finish(head, leaf.digest(), checker.digesters)
        while hashing.read(READ_CHUNK):
            pass

    return hashing, run()


class BlockChecker:
    """One record's block and payload digests, its block fed in pieces (no leaf hash)."""

    def __init__(self, head: RecordHead) -> None:
        self._head = head
        self.digesters = _digesters(head)
        if len(self.digesters) == 1:
            self.update = self.digesters[0].update
        else:
            self.update = self._update_all

    def _update_all(self, chunk: bytes) -> None:
        for digester in self.digesters:
            digester.update(chunk)

    def finish(self) -> RecordCheck:
        return _finish(self._head, b"", self.digesters)


class LogicalPayload:
    """The payload digest of a segmented record's first segment, checked against the logical
    record: the blocks of all its segments fed in order (WARC 1.1 section 7)."""

    def __init__(self, first: RecordHead) -> None:
        self._digesters = _digesters(first, logical=True)

    def update(self, chunk: bytes) -> None:
        for digester in self._digesters:
            digester.update(chunk)

    def finish(self) -> DigestCheck:
        return _worst([d.payload_check(d.block_check()) for d in self._digesters])


def _digesters(head: RecordHead, logical: bool = False) -> list[_Digester]:
    """A digester per digest header: one, unless ``WARC-Block-Digest`` or
    ``WARC-Payload-Digest`` is repeated, when each value must be checked too (one ignored
    would pass unread)."""
    main = _Digester(head, logical)
    lowered = head.header_bytes.lower()
    if (lowered.count(b"\nwarc-block-digest") < 2
            and lowered.count(b"\nwarc-payload-digest") < 2):
        return [main]
    blocks = head.get_all("WARC-Block-Digest")[1:]
    payloads = head.get_all("WARC-Payload-Digest")[1:]
    more = []
    for i in range(max(len(blocks), len(payloads))):
        first = {k: v for k, v in head.first.items()
                 if k not in ("warc-block-digest", "warc-payload-digest")}
        if i < len(blocks):
            first["warc-block-digest"] = blocks[i]
        if i < len(payloads):
            first["warc-payload-digest"] = payloads[i]
        alt = RecordHead(head.offset, head.header_bytes, head.version, head.headers,
                         head.content_length, first)
        more.append(_Digester(alt, logical))
    return [main, *more]


_RANK = {"fail": 0, "unusable": 0, "misplaced": 1, "segmented": 1, "unchecked": 1, "pass": 2,
         "absent": 3}


def _worst(checks: list[DigestCheck]) -> DigestCheck:
    """The check to report of one header's values: the first that fails, else the first."""
    return min(checks, key=lambda c: _RANK.get(c.status, 0))


def _finish(head: RecordHead, leaf: bytes, digesters: list[_Digester]) -> RecordCheck:
    blocks = [d.block_check() for d in digesters]
    payloads = [d.payload_check(b) for d, b in zip(digesters, blocks, strict=True)]
    check = RecordCheck(head, leaf, _worst(blocks), _worst(payloads))
    if head.warc_type in ("response", "request", "resource", "revisit", "metadata"):
        for name in ("WARC-Record-ID", "WARC-Date"):
            if head.get(name) is None:
                check.problems.append(f"missing {name}")
    return check
