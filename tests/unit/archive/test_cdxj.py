"""archive.warc.cdxj: SURT keys (cross-checked with the `surt` package pywb uses), index entries of
prov's own and warcio's WARCs, sorted lines, binary-search lookup, and a 5,000-record file."""

from __future__ import annotations

import gzip
import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archive.errors import NotATargetError, WarcFormatError
from archive.warc.cdxj import IndexEntry, index_lines, iter_entries, lookup, surt, write_index
from archive.warc.writer import Block, Record, WarcFile, WarcWriter

T0 = datetime(2024, 3, 4, 12, 0, 0, 251002, tzinfo=UTC)
REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"

# URLs where canonicalizers commonly disagree: case, www, ports, dot segments, escapes,
# IDNs, IP forms, session ids, query order, hostless schemes, stray whitespace.
TRICKY_URLS = [
    "http://www.Example.com:80/a?b=2&a=1",
    "https://example.com:443/",
    "https://example.com:8443/x/",
    "http://example.com",
    "http://example.com/#frag",
    "http://example.com/?",
    "http://example.com/a/b/../c/./d",
    "http://example.com//a///b//",
    "http://example.com/%7Euser/%2541",
    "http://example.com/a b?c d=e f",
    "http://user:pw@Example.COM/Path",
    "http://www2.example.co.uk/",
    "http://bücher.example/straße?ä=ö",
    "http://EXAMPLE.com./",
    "http://3232235777/",
    "http://0x7f.1/",
    "http://010.0.0.1/",
    "http://[2001:DB8::1]:8080/x",
    "http://example.com:/x",
    "urn:pageinfo:http://example.com/",
    "urn:uuid:ABCD-1234",
    "dns:www.Example.com",
    "mailto:A@B.c",
    "file:///tmp/X",
    "example.com/no-scheme",
    "http:////www.example.com/x",
    "http://https://order.example.com/a",
    "http://example.com/?jsessionid=0123456789abcdef0123456789ABCDEF&a=1",
    "http://example.com/x?cfid=12&cftoken=34&z=1",
    "http://example.com/(0123456789abcdefghijklmn)/page.aspx",
    "http://example.com/x?b&a=&a",
    "  http://example.com/\tx\n  ",
    "http://ex%61mple.com/a%2Fb",
    "HTTP://WWW.EXAMPLE.COM/INDEX.HTML?Q=X",
]


@pytest.mark.parametrize("url", TRICKY_URLS)
def test_surt_agrees_with_the_surt_package(url: str) -> None:
    import surt as surt_package  # test-only reference: the canonicalizer pywb calls

    assert surt(url) == surt_package.surt(url)


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://www.Example.com:443/a/?b=2&a=1#x", "com,example)/a?a=1&b=2"),
        ("http://example.com:8080/", "com,example:8080)/"),
        ("http://192.168.1.1/", "1,1,168,192)/"),
        ("urn:prov:seeds:0190", "urn:prov:seeds:0190"),
        ("http://example.com:99999/", "http://example.com:99999/"),  # unparseable: itself
        ("http://a b:x/", "http://a%20b:x/"),  # ... with no space to break the line
        ("", "-"),
    ],
)
def test_surt_known_keys(url: str, key: str) -> None:
    assert surt(url) == key


def http_response(body: bytes, status: str = "200 OK", ctype: str = "text/html") -> Block:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n\r\n".encode()
    return Block.of(head + body, payload_offset=len(head))


def record(kind: str, n: int, url: str, block: Block, content_type: str | None = None,
           extra: tuple[tuple[str, str], ...] = (), payload_digest: str | None = None) -> Record:
    return Record(kind, f"<urn:uuid:00000000-0000-4000-8000-{n:012d}>",
                  T0 + timedelta(seconds=n), block, [("WARC-Target-URI", url), *extra],
                  content_type=content_type or f"application/http;msgtype={kind}",
                  payload_digest=payload_digest)


def prov_warc(folder: Path, groups: list[list[Record]]) -> WarcFile:
    def warcinfo(name: str) -> Record:
        return Record("warcinfo", "<urn:uuid:00000000-0000-4000-8000-999999999999>", T0,
                      Block.of(b"software: test\r\n"), [("WARC-Filename", name)],
                      content_type="application/warc-fields")

    writer = WarcWriter(folder, warcinfo=warcinfo)
    for group in groups:
        writer.write_group(group)
    [done] = writer.close()
    return done


@pytest.fixture
def capture(tmp_path: Path) -> tuple[Path, WarcFile]:
    first = http_response(b"<p>hello</p>", ctype="text/html; charset=utf-8")
    digest = "sha256:" + (first.payload_digest or b"").hex()
    done = prov_warc(tmp_path, [
        [record("request", 1, "https://www.example.com/", Block.of(b"GET / HTTP/1.1\r\n\r\n"),
                content_type="application/http;msgtype=request"),
         record("response", 2, "https://www.example.com/", first)],
        [record("response", 3, "https://example.com/b?z=1&a=2", http_response(b"x", "404 Nope"))],
        [record("revisit", 4, "https://example.com/", http_response(b""),
                extra=(("WARC-Profile", REVISIT_PROFILE),), payload_digest=digest)],
        [record("resource", 5, "urn:prov:log:1", Block.of(b"log"), content_type="text/plain")],
        [record("resource", 6, "urn:prov:fields", Block.of(b"a: b\r\n"),
                content_type="application/warc-fields")],
        [record("response", 7, "dns:example.com", Block.of(b"example.com. 60 IN A 192.0.2.1"),
                content_type="text/dns")],
        [record("metadata", 8, "https://example.com/", Block.of(b"{}"),
                content_type="application/json")],
    ])
    return tmp_path / done.name, done


def test_entries_of_a_prov_warc(capture: tuple[Path, WarcFile]) -> None:
    path, done = capture
    entries = list(iter_entries(path))
    assert [(e.url, e.mime, e.status) for e in entries] == [
        ("https://www.example.com/", "text/html", "200"),
        ("https://example.com/b?z=1&a=2", "text/html", "404"),
        ("https://example.com/", "warc/revisit", "200"),
        ("urn:prov:log:1", "text/plain", None),
        ("dns:example.com", "text/dns", None),
    ]
    assert entries[0].surt == entries[2].surt == "com,example)/"
    assert entries[1].surt == "com,example)/b?a=2&z=1"
    assert entries[0].timestamp == "20240304120002"
    assert entries[0].digest is not None and entries[0].digest == entries[2].digest
    assert entries[3].digest is None and entries[0].filename == path.name
    written = {loc.record_id: loc for loc in done.records}
    data = path.read_bytes()
    for entry in entries:
        member = gzip.decompress(data[entry.offset : entry.offset + entry.length])
        assert member.startswith(b"WARC/1.1\r\n")
        rid = warc_header(member, "WARC-Record-ID")
        assert rid is not None
        assert (written[rid].offset, written[rid].length) == (entry.offset, entry.length)
        assert warc_header(member, "WARC-Target-URI") == entry.url
        assert warc_header(member, "WARC-Payload-Digest") == entry.digest


def warc_header(record_bytes: bytes, name: str) -> str | None:
    head = record_bytes.split(b"\r\n\r\n", 1)[0].decode()
    values = [line.split(": ", 1)[1] for line in head.split("\r\n") if line.startswith(name + ":")]
    return values[0] if values else None


def warcio_warc(path: Path, *, gzip_members: bool) -> None:
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=gzip_members, warc_version="1.0")
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "warcio"}))
        for n, url in enumerate(["http://example.org/b", "http://example.org/a?y=1&x=2"]):
            headers = StatusAndHeaders("200 OK", [("Content-Type", "image/png")], "HTTP/1.0")
            response = writer.create_warc_record(url, "response", payload=io.BytesIO(b"%d" % n),
                                                 http_headers=headers)
            writer.write_record(response)
        revisit = writer.create_revisit_record(
            "http://example.org/b", digest=response.rec_headers["WARC-Payload-Digest"],
            refers_to_uri="http://example.org/b", refers_to_date="2024-01-01T00:00:00Z",
            http_headers=StatusAndHeaders("304 Not Modified", [], "HTTP/1.0"))
        writer.write_record(revisit)


@pytest.mark.parametrize("gzip_members", [True, False])
def test_entries_of_a_warcio_warc(tmp_path: Path, gzip_members: bool) -> None:
    path = tmp_path / ("foreign.warc.gz" if gzip_members else "foreign.warc")
    warcio_warc(path, gzip_members=gzip_members)
    entries = list(iter_entries(path))
    assert [(e.surt, e.mime, e.status) for e in entries] == [
        ("org,example)/b", "image/png", "200"),
        ("org,example)/a?x=2&y=1", "image/png", "200"),
        ("org,example)/b", "warc/revisit", "304"),
    ]
    with path.open("rb") as fh:
        theirs = [(rec.rec_headers["WARC-Payload-Digest"], it.get_record_offset(),
                   it.get_record_length())
                  for it in [ArchiveIterator(fh)] for rec in it if rec.rec_type != "warcinfo"]
    # In a plain WARC warcio leaves the record's closing CRLF CRLF out of its length; an
    # entry runs to the next record, so its bytes are a whole record (WARC 1.1 section 4).
    trailer = 0 if gzip_members else 4
    assert [(e.digest, e.offset, e.length - trailer) for e in entries] == theirs
    data = path.read_bytes()
    for e in entries:
        raw = data[e.offset : e.offset + e.length]
        record_bytes = gzip.decompress(raw) if gzip_members else raw
        assert record_bytes.startswith(b"WARC/1.0\r\n") and record_bytes.endswith(b"\r\n\r\n")


def test_lines_are_sorted_compact_and_pywb_shaped(capture: tuple[Path, WarcFile]) -> None:
    path, _ = capture
    lines = index_lines(iter_entries(path))
    assert lines == sorted(lines) and all(line.endswith(b"\n") for line in lines)
    assert lines[0].startswith(b"com,example)/ 20240304120002 {")
    doc = lines[0].split(b" ", 2)[2]
    assert b", " not in doc and b": " not in doc
    fields = json.loads(doc)
    assert list(fields) == ["url", "mime", "status", "digest", "length", "offset", "filename"]
    assert all(isinstance(fields[k], str) for k in ("status", "length", "offset"))
    revisit = json.loads(lines[1].split(b" ", 2)[2])
    assert revisit["mime"] == "warc/revisit"
    resource = next(json.loads(x.split(b" ", 2)[2]) for x in lines if x.startswith(b"urn:"))
    assert "status" not in resource and "digest" not in resource


def test_write_index_and_lookup(tmp_path: Path, capture: tuple[Path, WarcFile],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = capture
    warcio_warc(tmp_path / "foreign.warc.gz", gzip_members=True)
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    index = write_index(tmp_path, [path.name, "foreign.warc.gz"])
    assert index == tmp_path / "index.cdxj" and len(synced) == 2  # the file and its folder
    assert not (tmp_path / "index.cdxj.tmp").exists()
    lines = index.read_bytes().splitlines(keepends=True)
    assert lines == sorted(lines) and len(lines) == 8

    home = lookup(index, "http://EXAMPLE.com:80/")  # same key as https://www.example.com/
    assert [(e.mime, e.filename) for e in home] == [("text/html", path.name),
                                                    ("warc/revisit", path.name)]
    assert home == [e for e in iter_entries(path) if e.surt == "com,example)/"]
    assert [e.status for e in lookup(index, "https://example.com/b?a=2&z=1")] == ["404"]
    assert [e.url for e in lookup(index, "urn:prov:log:1")] == ["urn:prov:log:1"]
    assert len(lookup(index, "http://example.org/b")) == 2
    for missing in ("http://a.example/", "https://example.com/b", "https://example.com/c",
                    "http://zzz.example/", "urn:prov:fields", "https://example.com/"[:-1] + "x"):
        assert lookup(index, missing) == []


def test_lookup_edges(tmp_path: Path) -> None:
    empty = tmp_path / "empty.cdxj"
    empty.write_bytes(b"")
    assert lookup(empty, "http://example.com/") == []
    broken = tmp_path / "broken.cdxj"
    broken.write_bytes(b"com,example)/ 20240101000000 {not json}\n")
    with pytest.raises(NotATargetError, match="not a CDXJ line"):
        lookup(broken, "http://example.com/")
    with pytest.raises(ValueError, match="not a file name"):
        write_index(tmp_path, ["../x.warc.gz"])


def test_http_head_is_read_only_to_64_kib(tmp_path: Path) -> None:
    padding = "X-Pad: " + "p" * (70 * 1024)
    big_head = http_response(b"", ctype="text/css")
    huge = Block.of(f"HTTP/1.1 201 Created\r\n{padding}\r\nContent-Type: text/css\r\n\r\n"
                    .encode() + b"b" * (3 << 20))
    done = prov_warc(tmp_path, [[record("response", 1, "http://a.example/", huge)],
                                [record("response", 2, "http://b.example/", big_head)]])
    first, second = iter_entries(tmp_path / done.name)
    assert (first.status, first.mime) == ("201", "unk")  # Content-Type lies past 64 KiB
    assert (second.status, second.mime, second.offset) == ("200", "text/css",
                                                           first.offset + first.length)


def test_bad_warc_date_names_the_record(tmp_path: Path) -> None:
    path = tmp_path / "bad.warc"
    warcio_warc(path, gzip_members=False)
    data = path.read_bytes()
    path.write_bytes(data.replace(b"WARC-Date: ", b"WARC-Date: 24-", 2))
    with pytest.raises(WarcFormatError, match=r"offset \d+: WARC-Date '24-.* is not ISO 8601"):
        list(iter_entries(path))


def test_five_thousand_records(tmp_path: Path) -> None:
    groups = [[record("response", n, f"https://example.com/page/{n}?q={n % 7}",
                      http_response(b"body %d" % n))] for n in range(5000)]
    done = prov_warc(tmp_path, groups)
    index = write_index(tmp_path, [done.name])
    entries = list(iter_entries(tmp_path / done.name))
    assert len(entries) == 5000 == len(index.read_bytes().splitlines())
    written = [(loc.offset, loc.length) for loc in done.records if loc.warc_type == "response"]
    assert [(e.offset, e.length) for e in entries] == written
    data = (tmp_path / done.name).read_bytes()
    for n in (0, 1, 999, 2500, 4999):
        [hit] = lookup(index, f"https://www.example.com/page/{n}?q={n % 7}")
        assert isinstance(hit, IndexEntry) and hit == entries[n]
        member = gzip.decompress(data[hit.offset : hit.offset + hit.length])
        assert member.endswith(b"body %d\r\n\r\n" % n)
    assert lookup(index, "https://example.com/page/5000?q=2") == []


def _http_head_reference(buf: bytes) -> tuple[str | None, str]:
    """The status and media type as the index found them before the head was cut short."""
    import itertools
    import re

    from archive.warc.cdxj import _bare_mime

    lines = [line.rstrip(b"\r") for line in buf[:64 * 1024].split(b"\n")[:-1]]
    status = re.match(rb"HTTP/[0-9.]+ +(\d{3})(?: |$)", lines[0]) if lines else None
    headers = (line.partition(b":") for line in itertools.takewhile(bool, lines[1:]))
    types = [v for n, colon, v in headers if colon and n.strip().lower() == b"content-type"]
    mime = _bare_mime(types[0].decode("latin-1")) if types else ""
    return (status[1].decode() if status else None), mime


HEAD_PIECES = [b"HTTP/1.1 200 OK", b"HTTP/1.0 404 ", b"Content-Type: text/html; charset=x",
               b"content-type:image/png", b"X: y", b"\r\n", b"\n", b"\r", b":", b" ", b"body"]


@given(st.lists(st.sampled_from(HEAD_PIECES), max_size=30), st.integers(0, 400))
def test_http_head_needs_only_the_lines_before_the_first_blank_one(
    pieces: list[bytes], cut: int,
) -> None:
    """The reader passes the block's start through its first blank line (or more), the
    writer the whole first chunk: both get the former index code's answer."""
    from archive.warc.cdxj import _http_head

    data = b"".join(pieces)
    ends = [i + len(b) for b in (b"\n\r\n", b"\n\n") if (i := data.find(b)) >= 0]
    reader_view = data[:max(min(ends, default=len(data)), cut)]
    assert _http_head(data) == _http_head(reader_view) == _http_head_reference(data)
