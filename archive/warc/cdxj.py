"""The CDXJ index of a capture's WARC files, as pywb and WACZ 1.1.1 (``indexes/``) use it.

Specs: Webrecorder CDXJ 0.1.0, WACZ 1.1.1 "indexes", and pywb's CDXJ as pywb and cdxj-indexer
write it: ``<SURT> <YYYYMMDDhhmmss> <JSON>`` lines sorted bytewise (``LC_ALL=C sort``); JSON keys
url, mime, status, digest, length, offset, filename in that order, status/length/offset as
strings, a missing status or digest left out. The key is the SURT of the Internet Archive's
canonicalizer (the ``surt`` package pywb calls), done here; records per WARC 1.1 (annex D gzip).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import socket
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote_from_bytes, unquote_to_bytes

from archive.errors import NotATargetError, WarcFormatError
from archive.warc.reader import RecordHead, WarcReader
from archive.warc.writer import RecordLocation

MAX_HTTP_HEAD = 64 * 1024  # of a block read for its status line and Content-Type
MAX_LINE = 1 << 20  # of an index line read by lookup()
INDEXED_TYPES = frozenset({"response", "revisit", "resource"})

_HAS_SCHEME = re.compile(rb"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_REPEATED_HTTP = re.compile(rb"^(?:https?://)*(https?://)")
_URL_PARTS = re.compile(rb"^(?:([a-zA-Z][a-zA-Z0-9+.-]*):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?")
# a str: urllib filters a bytes ``safe`` byte by byte in Python on every call
_ESCAPE_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if c not in b"#%")
_DECIMAL_IP = re.compile(rb"^[1-9][0-9]*(\.[0-9]+){0,3}$")
_OCTAL_IP = re.compile(rb"^0[0-7]*(\.[0-7]+){0,3}$")
_WWW = re.compile(rb"^www\d*\.")
# Session ids the IA canonicalizer drops, so two visits of one page share a key.
_PATH_SESSION = [re.compile(p, re.I) for p in (
    rb"^(.*/)\((?:[a-z]\([0-9a-z]{24}\))+\)/([^?]+\.aspx.*)$",
    rb"^(.*/)\([0-9a-z]{24}\)/([^?]+\.aspx.*)$")]
_QUERY_SESSION = [re.compile(rb"^(.*)" + p + rb"(?:&(.*))?$", re.I) for p in (
    rb"jsessionid=[0-9a-z]{32}", rb"phpsessid=[0-9a-z]{32}", rb"sid=[0-9a-z]{32}",
    rb"aspsessionid[a-z]{8}=[a-z]{24}", rb"cfid=[^&]+&cftoken=[^&]+")]
_WARC_DATE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)")


def surt(url: str) -> str:
    """The SURT key pywb gives ``url``: ``https://www.Example.com:443/a/?b=2&a=1`` becomes
    ``com,example)/a?a=1&b=2``. Host labels reversed without ``www``, default port dropped,
    path and query unescaped, normalized, lowercased and escaped once, query sorted, fragment
    and session ids dropped; a URI without a host (``urn:``, ``dns:``) keeps its scheme. A URL
    that cannot be parsed (a bad port) is its own key, with spaces and controls escaped."""
    raw = url.encode()
    if not raw.strip():
        return "-"
    try:
        return _surt(raw).decode("ascii")
    except ValueError:
        return quote_from_bytes(raw.strip(), safe=bytes(range(0x21, 0x7F)))


def _surt(raw: bytes) -> bytes:
    raw = re.sub(rb"[\t\r\n]", b"", raw.strip())
    if not _HAS_SCHEME.match(raw):
        raw = b"http://" + raw
    if (repeated := _REPEATED_HTTP.match(raw)) and repeated.start(1):
        raw = raw[repeated.start(1):]  # "http://https://x" is "https://x"
    match = _URL_PARTS.match(raw)
    assert match is not None  # every group is optional
    scheme, netloc, path, query = match.groups(b"")
    host, port = _host_port(netloc.rstrip(b":"))
    if scheme.startswith(b"http") and host is None and path:  # "http:////example.com/"
        host, _, rest = path.lstrip(b"/").partition(b"/")
        path = b"/" + rest
    if host is not None:
        host = _canonical_host(host).lower()  # escapes too: "%C3" -> "%c3"
    path = _escape(_normalize_path(_unescape(path)) if host else _unescape(path)).lower()
    if host and scheme != b"dns":
        host = _WWW.sub(b"", host)
    for pattern in _PATH_SESSION:
        path = pattern.sub(rb"\1\2", path)
    if len(path) > 1 and path.endswith(b"/"):
        path = path[:-1]
    q = _canonical_query(query) if query else None
    tail = path if q is None else (path or b"/") + b"?" + q
    if not host:
        return scheme + b":" + tail
    key = b",".join(reversed(host.split(b".")))
    if port is not None and (scheme.lower(), port) not in ((b"http", 80), (b"https", 443)):
        key += b":%d" % port
    return key + b")" + tail


def _host_port(netloc: bytes) -> tuple[bytes | None, int | None]:
    hostinfo = netloc.rpartition(b"@")[2]
    before, bracket, inside = hostinfo.partition(b"[")  # "[2001:db8::1]:8080"
    host, _, port_text = inside.partition(b"]") if bracket else before.partition(b":")
    port_text = port_text.partition(b":")[2] if bracket else port_text
    if port_text and not (port_text.isdigit() and int(port_text) <= 65535):
        raise ValueError(f"bad port {port_text!r}")
    return (host.lower() or None), (int(port_text) or None) if port_text else None


def _canonical_host(host: bytes) -> bytes:
    host = _unescape(host)
    if not host.isascii():
        with contextlib.suppress(UnicodeError):  # kept as bytes, escaped below
            host = host.decode("utf-8", "ignore").encode("idna")
    host = host.replace(b"..", b".").strip(b".")
    if host.isdigit():  # a bare 32-bit number is an IPv4 address
        return socket.inet_ntoa(struct.pack(">L", int(host) & 0xFFFFFFFF)).encode()
    if _DECIMAL_IP.match(host) or _OCTAL_IP.match(host):
        with contextlib.suppress(OSError):  # the classic forms: 1.2.3, 0x7f.1, 010.0.0.1
            return socket.inet_ntoa(socket.inet_aton(host.decode())).encode()
    return _escape(host.lower())


def _normalize_path(path: bytes) -> bytes:
    kept: list[bytes] = []
    for segment in path.split(b"/")[1:]:
        if segment == b".." and kept:
            kept.pop()
        elif segment != b".":  # a ".." above the root stays, as in the IA canonicalizer
            kept.append(segment)
    if not kept:
        return b"/"
    return b"/" + b"".join(s + b"/" for s in kept[:-1] if s) + kept[-1]


def _canonical_query(query: bytes) -> bytes | None:
    query = _escape(_unescape(query))
    for pattern in _QUERY_SESSION:
        if match := pattern.match(query):
            query = match.group(1) + (match.group(2) or b"")
    query = query.lower()
    if len(query) > 1:
        pairs = sorted(arg.split(b"=", 1) for arg in query.split(b"&"))
        query = b"&".join(b"=".join(pair) for pair in pairs)
    return query or None


def _unescape(data: bytes) -> bytes:
    while (once := unquote_to_bytes(data)) != data:
        data = once
    return data


def _escape(data: bytes) -> bytes:
    return quote_from_bytes(data, safe=_ESCAPE_SAFE).encode("ascii")


@dataclass(frozen=True)
class IndexEntry:
    """One CDXJ line: where a capture of ``url`` lies (a gzip member of ``filename``)."""

    surt: str
    timestamp: str
    url: str
    mime: str
    status: str | None
    digest: str | None
    length: int
    offset: int
    filename: str


def iter_entries(path: Path) -> Iterator[IndexEntry]:
    """The index entries of one WARC (gzip-per-record or plain), in one pass over it. A length
    runs to the next member (or record); of a block only the HTTP head is read (64 KiB at most)."""
    with path.open("rb") as fh:
        size, reader = os.fstat(fh.fileno()).st_size, WarcReader(fh)
        pending: list[IndexEntry] = []  # records that share one member (non-standard)
        for head in reader:
            if pending and head.offset != pending[0].offset:
                yield from (replace(e, length=head.offset - e.offset) for e in pending)
                pending = []
            if (entry := _entry(head, reader, path)) is not None:
                pending.append(entry)
        yield from (replace(e, length=size - e.offset) for e in pending)


def _entry(head: RecordHead, reader: WarcReader, path: Path) -> IndexEntry | None:
    return entry_of(head.get, lambda: _read_block_start(reader), head.offset, 0, path.name,
                    where=str(path))


def entry_of(get: Callable[[str], str | None], block_start: Callable[[], bytes], offset: int,
             length: int, filename: str, *, where: str | None = None) -> IndexEntry | None:
    """The entry of one record, from its header (``get``: a header's first value, stripped,
    by name in any case) and the first bytes of its block (asked for only if it holds HTTP).
    ``where`` names the file in errors (``filename`` if not given)."""
    url = re.sub(r"^<(.*)>$", r"\1", (get("WARC-Target-URI") or "").strip())  # WARC 1.0 <>
    content_type = get("Content-Type") or ""
    warc_type = get("WARC-Type") or ""
    if warc_type not in INDEXED_TYPES or not url or (
        warc_type == "resource" and _bare_mime(content_type) == "application/warc-fields"
    ):  # pywb and cdxj-indexer leave warc-fields resources out too
        return None
    date = get("WARC-Date") or ""
    if not (when := _WARC_DATE.match(date)):
        raise WarcFormatError(f"{where or filename}: offset {offset}: WARC-Date {date!r} "
                              "is not ISO 8601")
    status, mime = None, _bare_mime(content_type)
    is_http = content_type.lower().startswith("application/http") or (
        not content_type and url.lower().startswith(("http:", "https:")))
    if warc_type != "resource" and is_http:
        status, mime = _http_head(block_start())
    if warc_type == "revisit":
        mime = "warc/revisit"
    return IndexEntry(surt(url), "".join(when.groups()), url, mime or "unk", status,
                      get("WARC-Payload-Digest"), length, offset, filename)


def _bare_mime(content_type: str) -> str:
    return re.split(r"[;\s]", content_type.strip(), maxsplit=1)[0]


def _read_block_start(reader: WarcReader) -> bytes:
    """The block's first bytes: through its first blank line, or MAX_HTTP_HEAD of them."""
    buf = b""
    for chunk in reader.iter_block(16 * 1024):
        buf += chunk
        if b"\n\r\n" in buf or b"\n\n" in buf or len(buf) >= MAX_HTTP_HEAD:
            break
    return buf


def _http_head(buf: bytes) -> tuple[str | None, str]:
    """(status code, bare Content-Type) from the start of an HTTP message block. Only lines
    before the first blank one count, so any start that holds them gives the same answer."""
    buf = buf[:MAX_HTTP_HEAD]
    ends = [i + len(blank) for blank in (b"\n\r\n", b"\n\n") if (i := buf.find(blank)) >= 0]
    if ends:  # nothing after the first blank line counts: leave the body unsplit
        buf = buf[:min(ends)]
    lines = [line.rstrip(b"\r") for line in buf.split(b"\n")[:-1]]
    status = re.match(rb"HTTP/[0-9.]+ +(\d{3})(?: |$)", lines[0]) if lines else None
    headers = (line.partition(b":") for line in itertools.takewhile(bool, lines[1:]))
    types = [v for n, colon, v in headers if colon and n.strip().lower() == b"content-type"]
    mime = _bare_mime(types[0].decode("latin-1")) if types else ""
    return (status[1].decode() if status else None), mime


def index_line(e: IndexEntry) -> bytes:
    """One CDXJ line, ending ``\\n``; the JSON is ASCII (escaped)."""
    fields = {"url": e.url, "mime": e.mime}
    fields.update({k: v for k, v in (("status", e.status), ("digest", e.digest)) if v})
    fields.update(length=str(e.length), offset=str(e.offset), filename=e.filename)
    doc = json.dumps(fields, separators=(",", ":"))
    return f"{e.surt} {e.timestamp} {doc}\n".encode()


def index_lines(entries: Iterable[IndexEntry]) -> list[bytes]:
    """CDXJ lines, sorted bytewise, each ending ``\\n``; the JSON is ASCII (escaped)."""
    return sorted(index_line(e) for e in entries)


class IndexBuilder:
    """The index of the WARCs a ``WarcWriter`` writes, built as it writes them: pass ``add``
    as the writer's ``on_record``. Each record's entry comes from what the writer already has
    (header lines, the first chunk of the block, offset and compressed length), so the lines
    are those ``write_index`` would read back from the finished files, without a second pass.
    Lines are kept in memory (a few hundred bytes a record) and sorted when dumped."""

    def __init__(self) -> None:
        self._lines: list[bytes] = []

    def add(self, headers: Sequence[tuple[str, str]], block_start: bytes,
            location: RecordLocation) -> None:
        if headers and headers[0][0] == "WARC-Type" and headers[0][1] not in INDEXED_TYPES:
            return  # requests and metadata, two records in three: no line, and no work
        first: dict[str, str] = {}
        for name, value in headers:  # as the reader parses them: first value, stripped
            first.setdefault(name.strip().lower(), value.strip())
        entry = entry_of(lambda name: first.get(name.lower()), lambda: block_start,
                         location.offset, location.length, location.filename)
        if entry is not None:
            self._lines.append(index_line(entry))

    def lines(self) -> list[bytes]:
        return sorted(self._lines)

    def dump(self, folder: Path, out_name: str = "index.cdxj") -> Path:
        """Write the sorted index to ``folder/out_name`` (fsynced, then renamed)."""
        return _write_lines(folder, out_name, self.lines())


def write_index(folder: Path, warc_names: Sequence[str], out_name: str = "index.cdxj") -> Path:
    """Index the named WARCs of ``folder`` into ``folder/out_name`` (fsynced, then renamed),
    reading them back: for WARCs this process did not write. The lines are sorted in memory,
    as pywb's indexer does: a few hundred bytes a record."""
    for name in (*warc_names, out_name):
        _check_name(folder, name)
    entries = [entry for name in warc_names for entry in iter_entries(folder / name)]
    return _write_lines(folder, out_name, index_lines(entries))


def _check_name(folder: Path, name: str) -> None:
    if name in ("", ".", "..") or "/" in name or "\\" in name:
        raise ValueError(f"{name!r} is not a file name in {folder}")


def _write_lines(folder: Path, out_name: str, lines: list[bytes]) -> Path:
    _check_name(folder, out_name)
    out_path, tmp_path = folder / out_name, folder / (out_name + ".tmp")
    with tmp_path.open("wb") as fh:
        fh.writelines(lines)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp_path, out_path)
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return out_path


def lookup(index_path: Path, url: str) -> list[IndexEntry]:
    """Every capture of ``url`` in a sorted CDXJ index, by binary search over its bytes."""
    key = surt(url).encode() + b" "
    with index_path.open("rb") as fh:
        lo, hi = 0, os.fstat(fh.fileno()).st_size
        while lo < hi:  # find the first line at or after a position that sorts >= key
            mid = (lo + hi) // 2
            line = _readline(fh, index_path, _line_start(fh, index_path, mid))
            lo, hi = (mid + 1, hi) if line and line < key else (lo, mid)
        fh.seek(_line_start(fh, index_path, lo))
        found = []
        while (line := _readline(fh, index_path, fh.tell())).startswith(key):
            found.append(_parse_line(line, index_path))
    return found


def iter_index(fh: BinaryIO, path: Path,
               on_line: Callable[[bytes], object] | None = None) -> Iterator[IndexEntry]:
    """Every entry of a CDXJ index read from ``fh``, in file order, one line at a time;
    ``on_line`` sees each line's bytes first (to hash the file as it is read)."""
    while line := _readline(fh, path, fh.tell()):
        if on_line is not None:
            on_line(line)
        if line.strip():
            yield _parse_line(line, path)


def _line_start(fh: BinaryIO, path: Path, pos: int) -> int:
    """The offset of the first line that starts at or after ``pos``."""
    if pos == 0:
        return 0
    return pos - 1 + len(_readline(fh, path, pos - 1))


def _readline(fh: BinaryIO, path: Path, pos: int) -> bytes:
    fh.seek(pos)
    line = fh.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise NotATargetError(f"{path}: line at offset {pos} is over 1 MiB: not a CDXJ index")
    return line


def _parse_line(line: bytes, path: Path) -> IndexEntry:
    try:
        key, timestamp, doc = line.decode().split(" ", 2)
        obj = json.loads(doc)
        given = {k: None if obj.get(k) in (None, "", "-") else str(obj[k])
                 for k in ("status", "digest")}  # "-" is CDX's "none"
        return IndexEntry(key, timestamp, str(obj["url"]), str(obj.get("mime", "unk")),
                          given["status"], given["digest"], int(obj["length"]),
                          int(obj["offset"]), str(obj["filename"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise NotATargetError(f"{path}: not a CDXJ line ({exc}): {line[:80]!r}",
                              hint="rebuild the index with write_index") from None
