"""Identifiers: UUIDv7 capture ids (RFC 9562, section 5.7), the capture folders named by them,
and WARC record ids.

The patterns spell digits ``[0-9]``, never ``\\d``: in a ``str`` pattern ``\\d`` matches every
Unicode digit, so ``captures/٢٠٢٤/…`` would pass for a date a person reads as another.
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import datetime

CAPTURE_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
CAPTURE_DAY = r"captures/[0-9]{4}/[0-9]{2}/[0-9]{2}"  # the day folder a capture is filed under
CAPTURE_DIR_RE = re.compile(rf"^{CAPTURE_DAY}/{CAPTURE_ID}$")  # captures/YYYY/MM/DD/<id>


def uuid7(moment: datetime, rand: bytes | None = None) -> str:
    """A UUIDv7 for ``moment``: 48-bit Unix milliseconds, version 7, variant, 74 random bits."""
    millis = int(moment.timestamp() * 1000)
    tail = bytearray(rand if rand is not None else os.urandom(10))
    value = bytearray(millis.to_bytes(6, "big")) + tail
    value[6] = 0x70 | (value[6] & 0x0F)
    value[8] = 0x80 | (value[8] & 0x3F)
    return str(uuid.UUID(bytes=bytes(value)))


def is_capture_dir(rel: str) -> bool:
    """``rel`` (case-relative, POSIX) has the form of a capture folder prov writes."""
    return bool(CAPTURE_DIR_RE.fullmatch(rel))
