"""archive.browser.pagerecords: a screenshot's size read from its PNG header alone."""

from __future__ import annotations

import io
import struct

from PIL import Image

from archive.browser.pagerecords import PNG_SIGNATURE, png_size


def test_png_size_from_the_header() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (321, 45)).save(buffer, format="PNG")
    assert png_size(buffer.getvalue()) == {"width": 321, "height": 45}


def test_a_huge_declared_size_is_read_without_decoding() -> None:
    header = PNG_SIGNATURE + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 1280, 10**9)
    assert png_size(header) == {"width": 1280, "height": 10**9}


def test_not_a_png() -> None:
    assert png_size(b"") is None
    assert png_size(b"GIF89a" + bytes(30)) is None
    assert png_size(PNG_SIGNATURE + bytes(4) + b"IDAT" + bytes(8)) is None
