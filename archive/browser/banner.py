"""A dated banner for a full-page screenshot (Berkeley Protocol para. 155: the URL and the
date and time shown with the capture).

The banner is a new image: a strip with the URL, the capture time (UTC) and the capture id,
with the raw screenshot pasted below it, pixel for pixel. Nothing is drawn over the page: the
page area of the banner image equals the raw ``urn:fullPage:`` screenshot, which is kept
as its own record (the banner record is ``WARC-Concurrent-To`` it).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_PATHS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),  # Debian fonts-dejavu-core
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)
FONT_SIZE = 16
PADDING = 12
LINE_GAP = 6
MIN_WIDTH = 480
MAX_LINES_PER_FIELD = 6
MAX_PIXELS = 1280 * 20_000  # archive.browser.page clips the full-page screenshot to as many
BACKGROUND = (32, 32, 32)
FOREGROUND = (255, 255, 255)
RULE = (255, 196, 0)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def load_font(size: int = FONT_SIZE) -> Font:
    """DejaVu Sans if installed, else Pillow's own font (scalable where FreeType is built)."""
    for path in FONT_PATHS:
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def wrap(text: str, font: Font, width: int) -> list[str]:
    """Lines of ``text`` no wider than ``width`` pixels, broken anywhere (URLs have no
    spaces), at most ``MAX_LINES_PER_FIELD`` of them (the last one ends in an ellipsis)."""
    lines: list[str] = []
    line = ""
    for char in text:
        if line and font.getlength(line + char) > width:
            lines.append(line)
            line = ""
        line += char
    lines.append(line)
    if len(lines) > MAX_LINES_PER_FIELD:
        lines = lines[:MAX_LINES_PER_FIELD]
        lines[-1] = lines[-1][:-1] + "…"
    return lines


def banner_lines(url: str, captured_at: str, capture_id: str,
                 reached: str | None = None) -> list[str]:
    """``url`` is the URL the screenshot shows; ``reached`` the chain that led there
    (archive.browser.navigation), when it is not simply that URL."""
    lines = [f"URL: {url}"]
    if reached:
        lines.append(f"Reached: {reached}")
    return [*lines, f"Captured: {captured_at} (UTC)", f"Capture id: {capture_id}"]


def add_banner(png: bytes, fields: Sequence[str]) -> tuple[bytes, int]:
    """A PNG with ``fields`` in a strip above the screenshot ``png``; and the strip's height
    in pixels (the page starts at that row)."""
    with Image.open(io.BytesIO(png)) as opened:
        if opened.width * opened.height > MAX_PIXELS:  # known from the header alone
            raise ValueError(f"the screenshot is {opened.width}x{opened.height} px, over "
                             f"{MAX_PIXELS:,} pixels")
        shot = opened.convert("RGB")
    width = max(shot.width, MIN_WIDTH)
    font = load_font()
    text_width = width - 2 * PADDING
    lines = [line for field in fields for line in wrap(field, font, text_width)]
    ascent, descent = font.getmetrics() if isinstance(font, ImageFont.FreeTypeFont) else (
        FONT_SIZE, 4)
    line_height = ascent + descent + LINE_GAP
    strip = 2 * PADDING + line_height * len(lines) + 2
    out = Image.new("RGB", (width, strip + shot.height), BACKGROUND)
    draw = ImageDraw.Draw(out)
    for number, line in enumerate(lines):
        draw.text((PADDING, PADDING + number * line_height), line, font=font, fill=FOREGROUND)
    draw.line([(0, strip - 2), (width, strip - 2)], fill=RULE, width=2)
    out.paste(shot, (0, strip))
    buffer = io.BytesIO()
    out.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue(), strip
