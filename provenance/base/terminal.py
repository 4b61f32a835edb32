"""Text for a terminal: every character a terminal could act on is shown as an escape.

Threat (docs/SECURITY.md, "The terminal"): whoever writes a case or a package chooses the
names and texts prov prints (file names, URLs, notes, titles, error messages that quote
them). A carriage return or an ESC sequence in one of them would move the cursor, erase the
``FAIL`` lines above it and print a ``VERIFIED`` line of its own; a bidirectional override
would reorder what is shown; a name that is not UTF-8 (``os.listdir`` gives lone surrogates)
would make printing itself fail. Every renderer passes each name through ``printable`` and the
CLI passes every line it writes through ``terminal_safe``; JSON output through ``safe_json``.

Escapes follow ``ls -b`` and Python's own: ``\\r``, ``\\n``, ``\\t``, ``\\xNN`` (a C0/C1
control, or a byte that was not UTF-8), ``\\uNNNN``/``\\UNNNNNNNN`` (format characters,
separators, unassigned code points).
"""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape_char(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, as os.fsdecode gives it
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` as one line with nothing a terminal acts on: a name or message to print.

    Backslashes are doubled, so an escape shown can only come from this function.
    """
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(ch if ch.isprintable() and ch != "\\" else _escape_char(ch) for ch in text)


def terminal_safe(text: str) -> str:
    """The last wall before a stream: escapes what ``printable`` would, except line breaks
    and tabs (the layout of the output) and backslashes (already escaped fields stay as
    they are)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in "\n\t\\" else _escape_char(ch)
                   for ch in text)


def safe_json(dumped: str) -> str:
    """JSON text from ``json.dumps(..., ensure_ascii=False)`` with every character a terminal
    acts on written as a JSON ``\\u`` escape: the same document to a parser, inert on a
    terminal (``json.dumps`` leaves DEL, C1 controls, separators and format characters raw)."""
    if dumped.isprintable():
        return dumped
    return "".join(ch if ch.isprintable() or ch in "\n " else _json_escape(ch) for ch in dumped)


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
