"""Revisit records of the identical-payload-digest profile (WARC 1.1, section 6.7.2).

A response whose payload is identical to one already archived is stored as a ``revisit``:
the HTTP header block as received is the record block (the body is left out and the record
says ``WARC-Truncated: length``), ``WARC-Payload-Digest`` is the original's, and
``WARC-Refers-To``, ``WARC-Refers-To-Target-URI`` and ``WARC-Refers-To-Date`` name the
original record. Which responses are identical is the caller's decision (``DedupHook``);
this module only says what may be compared (``dedup_key``) and writes the record.

"Identical" for prov (docs/FORMATS.md, "Deduplication"): the same sha256 of the body after
removing the transfer coding, the same ``Content-Encoding`` and the same
``Transfer-Encoding``. A truncated or bodiless response is never deduplicated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from archive.warc.writer import Block, Record

if TYPE_CHECKING:  # the recorder (asyncio, TLS) is not loaded by verify, which needs PROFILE
    from archive.http.recorder import Exchange

PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"


@dataclass(frozen=True)
class DedupKey:
    """What must be equal for two responses to be stored once."""

    decoded_sha256: str  # "sha256:<hex>" of the transfer-decoded body
    content_encoding: str  # as sent, normalized by normalize_codings, "" when absent
    transfer_encoding: str


@dataclass(frozen=True)
class Original:
    """The archived record a revisit refers to, as its own headers say."""

    record_id: str
    target_uri: str
    date: str  # its WARC-Date, exactly as written
    payload_digest: str  # its WARC-Payload-Digest, exactly as written


#: Asked once per response record before it is written: the original it duplicates, or None.
DedupHook = Callable[["Exchange", Record], "Original | None"]


def normalize_codings(values: Iterable[str]) -> str:
    """Header values of a coding list as one comparable string: ``"gzip, br"`` -> ``"gzip,br"``."""
    return ",".join(c.strip().lower() for v in values for c in v.split(",") if c.strip())


def _codings(ex: Exchange, name: bytes) -> str:
    return normalize_codings(v.decode("latin-1") for k, v in ex.headers if k.lower() == name)


def dedup_key(ex: Exchange) -> DedupKey | None:
    """The key of a complete response with a body; None for anything that must be kept whole."""
    block = ex.response
    if (block is None or block.payload_offset is None or ex.status is None or ex.truncated
            or ex.error or ex.decoded_sha256 is None or ex.body_bytes == 0):
        return None
    return DedupKey("sha256:" + ex.decoded_sha256.hex(),
                    _codings(ex, b"content-encoding"), _codings(ex, b"transfer-encoding"))


def _head_bytes(block: Block) -> bytes:
    assert block.payload_offset is not None
    wanted, out = block.payload_offset, bytearray()
    for chunk in block.iter_chunks():
        out += chunk[: wanted - len(out)]
        if len(out) >= wanted:
            break
    return bytes(out)


def revisit_record(response: Record, original: Original) -> Record:
    """The revisit that replaces ``response`` (same id, date and headers); closes its block."""
    head = _head_bytes(response.block)
    response.block.close()
    headers = [(n, v) for n, v in response.headers if n != "WARC-Truncated"]
    headers += [
        ("WARC-Refers-To", original.record_id),
        ("WARC-Refers-To-Target-URI", original.target_uri),
        ("WARC-Refers-To-Date", original.date),
        ("WARC-Profile", PROFILE),
        ("WARC-Truncated", "length"),
    ]
    return Record("revisit", response.record_id, response.date, Block.of(head), headers,
                  content_type=response.content_type, payload_digest=original.payload_digest)
