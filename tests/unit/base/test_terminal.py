"""provenance.base.terminal: names and lines printed with nothing a terminal could act on."""

from __future__ import annotations

import json
import os

from provenance.base.terminal import printable, safe_json, terminal_safe

HOSTILE = "ok\r\x1b[2KVERIFIED\u202e\x85\u2028end"


def test_printable_escapes_every_control_and_doubles_backslashes() -> None:
    shown = printable(HOSTILE + "\\n\n\t")
    assert shown == "ok\\r\\x1b[2KVERIFIED\\u202e\\x85\\u2028end\\\\n\\n\\t"
    assert shown.isprintable()
    assert printable("plain name.warc.gz") == "plain name.warc.gz"


def test_printable_shows_bytes_that_were_not_utf8() -> None:
    name = os.fsdecode(b"caf\xe9.txt")
    assert printable(name) == "caf\\xe9.txt"


def test_printable_escapes_astral_unassigned_code_points() -> None:
    assert printable("\U000e0001") == "\\U000e0001"


def test_terminal_safe_keeps_layout_but_not_cursor_moves() -> None:
    text = "line 1\n\tline 2 \\x1b\r\x1b[1A"
    assert terminal_safe(text) == "line 1\n\tline 2 \\x1b\\r\\x1b[1A"
    assert terminal_safe("FAIL ✗") == "FAIL ✗"


def test_safe_json_is_the_same_document_and_inert() -> None:
    value = {"name": HOSTILE, "emoji": "\U0001f600\u200f", "lines": "a\nb"}
    dumped = safe_json(json.dumps(value, ensure_ascii=False, indent=1))
    assert json.loads(dumped) == value
    assert "\x1b" not in dumped and "\u202e" not in dumped and "\r" not in dumped
    assert "\\u200f" in dumped
