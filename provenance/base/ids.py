"""Identifiers: UUIDv7 capture ids (RFC 9562, section 5.7) and WARC record ids."""

from __future__ import annotations

import os
import re
import uuid
from datetime import datetime

CAPTURE_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def uuid7(moment: datetime, rand: bytes | None = None) -> str:
    """A UUIDv7 for ``moment``: 48-bit Unix milliseconds, version 7, variant, 74 random bits."""
    millis = int(moment.timestamp() * 1000)
    tail = bytearray(rand if rand is not None else os.urandom(10))
    value = bytearray(millis.to_bytes(6, "big")) + tail
    value[6] = 0x70 | (value[6] & 0x0F)
    value[8] = 0x80 | (value[8] & 0x3F)
    return str(uuid.UUID(bytes=bytes(value)))


def is_capture_id(text: str) -> bool:
    return bool(CAPTURE_ID_RE.fullmatch(text))
