"""Named mutations of a WARC file (gzip member per record, as prov writes): the tamper corpus.

Each mutation edits the file in place and returns the file offset of the place it changed
(or None when the change is spread over the file). ``DETECTED_BY`` says who can see it:
``"warc"`` mutations break a record's own digests or the file's framing, so any WARC checker
(``prov verify-warc``) finds them; ``"seal"`` mutations leave every record self-consistent
(a record removed, reordered, replaced by a valid one with recomputed digests, a member
recompressed), which no checker of a lone WARC can see: only the seal's file digest and
records root catch them (``prov verify`` on the case).
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import re
import zlib
from collections.abc import Callable
from pathlib import Path

from archive.warc.reader import WarcReader


def members(path: Path) -> list[tuple[int, bytes]]:
    """(offset, raw gzip member) of each record."""
    data = path.read_bytes()
    with open(path, "rb") as fh:
        offsets = [head.offset for head in WarcReader(fh)]
    return [(a, data[a:b]) for a, b in itertools.pairwise([*offsets, len(data)])]


def records(path: Path) -> list[tuple[int, bytes]]:
    return [(offset, gzip.decompress(raw)) for offset, raw in members(path)]


def _write(path: Path, parts: list[bytes]) -> None:
    path.write_bytes(b"".join(parts))


def _response(path: Path) -> tuple[int, int, bytes]:
    """(index, offset, record) of the first response with a body of some size."""
    for i, (offset, rec) in enumerate(records(path)):
        if b"WARC-Type: response" in rec and len(rec) > 600:
            return i, offset, rec
    raise AssertionError("no response record")


def _regzip(path: Path, index: int, record: bytes) -> None:
    parts = [raw for _, raw in members(path)]
    parts[index] = gzip.compress(record, compresslevel=6, mtime=0)
    _write(path, parts)


def _flip_in(record: bytes, start: int) -> bytes:
    data = bytearray(record)
    data[start] ^= 0x01
    return bytes(data)


def flip_payload(path: Path) -> int | None:
    i, offset, rec = _response(path)
    _regzip(path, i, _flip_in(rec, len(rec) - 10))
    return offset


def flip_http_header(path: Path) -> int | None:
    i, offset, rec = _response(path)
    _regzip(path, i, _flip_in(rec, rec.index(b"\r\n\r\n") + 4 + 5))  # "HTTP/1.x"
    return offset


def flip_block_digest(path: Path) -> int | None:
    i, offset, rec = _response(path)
    at = rec.index(b"WARC-Block-Digest: sha256:") + 30
    _regzip(path, i, rec[:at] + (b"0" if rec[at:at + 1] != b"0" else b"1") + rec[at + 1:])
    return offset


def flip_payload_digest(path: Path) -> int | None:
    i, offset, rec = _response(path)
    at = rec.index(b"WARC-Payload-Digest: sha256:") + len(b"WARC-Payload-Digest: sha256:")
    changed = bytearray(rec)
    changed[at] = ord("0") if changed[at] != ord("0") else ord("1")
    _regzip(path, i, bytes(changed))
    return offset


def edit_content_length(path: Path) -> int | None:
    i, offset, rec = _response(path)
    _regzip(path, i, re.sub(rb"Content-Length: (\d+)",
                            lambda m: b"Content-Length: %d" % (int(m[1]) - 3), rec, count=1))
    return offset


def flip_raw_gzip(path: Path) -> int | None:
    _, offset, _ = _response(path)
    data = bytearray(path.read_bytes())
    data[offset + 40] ^= 0x10
    path.write_bytes(bytes(data))
    return offset


def _truncate(share: float) -> Callable[[Path], int | None]:
    def cut(path: Path) -> int | None:
        data = path.read_bytes()
        path.write_bytes(data[: max(1, int(len(data) * share))])
        return None

    cut.__name__ = f"truncate_{int(share * 100)}"
    return cut


def truncate_last_byte(path: Path) -> int | None:
    path.write_bytes(path.read_bytes()[:-1])
    return None


def append_garbage(path: Path) -> int | None:
    path.write_bytes(path.read_bytes() + b"\x00garbage after the last member")
    return None


def duplicate_record(path: Path) -> int | None:
    i, offset, _ = _response(path)
    parts = [raw for _, raw in members(path)]
    _write(path, [*parts[: i + 1], parts[i], *parts[i + 1 :]])
    return offset + len(parts[i])  # the copy: its id is the one used twice


# -- invisible to a checker of a lone WARC: records stay self-consistent ---------------------


def drop_record(path: Path) -> int | None:
    i, _, _ = _response(path)
    parts = [raw for _, raw in members(path)]
    _write(path, parts[:i] + parts[i + 1 :])
    return None


def drop_last_record(path: Path) -> int | None:
    _write(path, [raw for _, raw in members(path)][:-1])
    return None


def reorder_records(path: Path) -> int | None:
    parts = [raw for _, raw in members(path)]
    parts[1], parts[2] = parts[2], parts[1]
    _write(path, parts)
    return None


def flip_target_uri(path: Path) -> int | None:
    """A WARC header no digest covers (WARC 1.1: the block digest is over the block only)."""
    i, offset, rec = _response(path)
    _regzip(path, i, rec.replace(b"WARC-Target-URI: http://", b"WARC-Target-URI: https://", 1))
    return offset


def replace_with_valid_record(path: Path) -> int | None:
    """The body changed and both digests recomputed: a perfect forgery of one record."""
    i, offset, rec = _response(path)
    head, _, block = rec.partition(b"\r\n\r\n")
    block = block[:-4]
    http_head, _, body = block.partition(b"\r\n\r\n")
    forged_body = body.replace(b"e", b"E") if b"e" in body else body + b"!"
    http_head = re.sub(rb"Content-Length: \d+", b"Content-Length: %d" % len(forged_body),
                       http_head)
    new_block = http_head + b"\r\n\r\n" + forged_body
    head = re.sub(rb"WARC-Block-Digest: sha256:[0-9a-f]+",
                  b"WARC-Block-Digest: sha256:" + hashlib.sha256(new_block).hexdigest().encode(),
                  head)
    head = re.sub(rb"WARC-Payload-Digest: sha256:[0-9a-f]+",
                  b"WARC-Payload-Digest: sha256:" +
                  hashlib.sha256(forged_body).hexdigest().encode(), head)
    head = re.sub(rb"Content-Length: \d+", b"Content-Length: %d" % len(new_block), head)
    _regzip(path, i, head + b"\r\n\r\n" + new_block + b"\r\n\r\n")
    return offset


def recompress_member(path: Path) -> int | None:
    i, offset, rec = _response(path)
    parts = [raw for _, raw in members(path)]
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts[i] = deflate.compress(rec) + deflate.flush()
    assert parts[i] != gzip.compress(rec, compresslevel=6, mtime=0)
    _write(path, parts)
    return offset


def merge_members(path: Path) -> int | None:
    """Two records in one gzip member: same records, other framing."""
    recs = [rec for _, rec in records(path)]
    parts = [raw for _, raw in members(path)]
    _write(path, [parts[0], gzip.compress(recs[1] + recs[2], mtime=0), *parts[3:]])
    return None


def append_valid_record(path: Path) -> int | None:
    recs = [rec for _, rec in records(path)]
    extra = recs[-1].replace(b"urn:uuid:", b"urn:uuid:f", 1)
    path.write_bytes(path.read_bytes() + gzip.compress(extra, mtime=0))
    return None


MUTATIONS: dict[str, Callable[[Path], int | None]] = {
    "payload byte flipped": flip_payload,
    "HTTP header byte flipped": flip_http_header,
    "WARC-Block-Digest byte flipped": flip_block_digest,
    "WARC-Payload-Digest byte flipped": flip_payload_digest,
    "Content-Length edited": edit_content_length,
    "raw gzip byte flipped": flip_raw_gzip,
    "truncated at 25%": _truncate(0.25),
    "truncated at 50%": _truncate(0.5),
    "truncated at 90%": _truncate(0.9),
    "last byte cut": truncate_last_byte,
    "garbage appended": append_garbage,
    "record duplicated": duplicate_record,
    "record removed": drop_record,
    "last record removed": drop_last_record,
    "records reordered": reorder_records,
    "WARC-Target-URI edited": flip_target_uri,
    "record replaced by a valid one, digests recomputed": replace_with_valid_record,
    "gzip member recompressed": recompress_member,
    "two members merged into one": merge_members,
    "valid record appended": append_valid_record,
}
SEAL_ONLY = {"record removed", "last record removed", "records reordered",
             "WARC-Target-URI edited", "record replaced by a valid one, digests recomputed",
             "gzip member recompressed", "two members merged into one", "valid record appended"}
DETECTED_BY = {name: "seal" if name in SEAL_ONLY else "warc" for name in MUTATIONS}
# Every record of a file with a duplicate matches its digests: the case names the file.
CASE_NAMES_FILE_ONLY = {"record duplicated"}
