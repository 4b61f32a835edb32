"""archive.browser.banner: the strip of text above a screenshot, and its limits."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from archive.browser.banner import (
    MAX_LINES_PER_FIELD,
    MAX_PIXELS,
    MIN_WIDTH,
    add_banner,
    banner_lines,
    load_font,
    wrap,
)


def png(width: int, height: int, colour: tuple[int, int, int] = (0, 128, 255)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_screenshot_sits_unchanged_below_the_strip() -> None:
    out, strip = add_banner(png(600, 40), banner_lines("http://a.test/", "2026-01-01", "id"))
    with Image.open(io.BytesIO(out)) as image:
        assert image.size == (600, strip + 40)
        assert image.getpixel((10, strip + 5)) == (0, 128, 255)
        assert image.getpixel((599, strip + 39)) == (0, 128, 255)
        assert image.getpixel((1, 1)) != (0, 128, 255)


def test_a_narrow_screenshot_gets_a_strip_of_the_minimum_width() -> None:
    out, strip = add_banner(png(100, 10), ["URL: x"])
    with Image.open(io.BytesIO(out)) as image:
        assert image.size == (MIN_WIDTH, strip + 10)


def test_a_screenshot_over_the_pixel_limit_is_refused_from_its_header() -> None:
    width = 1280
    height = MAX_PIXELS // width + 1
    with pytest.raises(ValueError, match="over"):
        add_banner(png(width, height), ["URL: x"])


def test_long_fields_wrap_and_are_cut_with_an_ellipsis() -> None:
    font = load_font()
    lines = wrap("http://a.test/" + "x" * 5000, font, 300)
    assert len(lines) == MAX_LINES_PER_FIELD
    assert lines[-1].endswith("…")
    assert all(font.getlength(line) <= 300 for line in lines[:-1])
    assert wrap("short", font, 300) == ["short"]


def test_banner_lines_name_the_chain_only_when_given() -> None:
    assert banner_lines("u", "t", "i") == ["URL: u", "Captured: t (UTC)", "Capture id: i"]
    assert banner_lines("u", "t", "i", "a → u")[1] == "Reached: a → u"
