"""``prov verify-warc``: WARCs made by warcio, by wget against a local server, and by hand.

Most checks call ``provenance.verification.warcs`` in process; the exit codes (0, 3, 4), the JSON
and "never a traceback" go through the real command.
"""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from servers import LocalServer
from warcs import (
    HTTP_HEAD,
    IDENTICAL,
    checks,
    failed,
    label,
    new_id,
    record,
    response,
    verify_warc,
    warcinfo,
    write,
)

from archive.errors import NotATargetError
from provenance.verification.warcs import verify_warcs


def run(*paths: Path, **kw: Any) -> dict[str, Any]:
    return verify_warcs(list(paths), jobs=1, **kw).as_json()


# -- made by other tools ----------------------------------------------------------------------


def warcio_file(path: Path, *, gz: bool = True) -> Path:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=gz)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "tests"}))
        for i in range(5):
            body = b"<p>page %d</p>" % i * (i + 1)
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")],
                                       protocol="HTTP/1.1")
            rec = writer.create_warc_record(f"http://example.com/{i}", "response",
                                            payload=io.BytesIO(body), http_headers=headers)
            writer.write_record(rec)
        first = rec.rec_headers
        revisit = writer.create_revisit_record(
            "http://example.com/4", first.get_header("WARC-Payload-Digest"),
            "http://example.com/4", first.get_header("WARC-Date"))
        revisit.rec_headers.add_header("WARC-Refers-To", first.get_header("WARC-Record-ID"))
        writer.write_record(revisit)
    return path


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
def test_warcio_file_verifies(tmp_path: Path, gz: bool) -> None:
    report = run(warcio_file(tmp_path / "warcio.warc", gz=gz))
    assert report["result"] == "pass", failed(report)
    assert "warc" in checks(report, "pass")
    assert "revisit" in checks(report, "pass")  # checked against its original


def test_warcio_file_tampered(tmp_path: Path) -> None:
    path = warcio_file(tmp_path / "warcio.warc", gz=False)
    data = bytearray(path.read_bytes())
    at = data.index(b"<p>page 3</p>")
    data[at + 4] ^= 0x20
    path.write_bytes(bytes(data))
    report = run(path)
    assert {"record.blockDigest", "record.payloadDigest"} <= checks(report)
    assert all(" @" in f["subject"] for f in failed(report) if f["check"].startswith("record."))


def test_wget_file_verifies_and_agrees_with_warcio(tmp_path: Path) -> None:
    if shutil.which("wget") is None:
        pytest.skip("wget is not installed (apt-get install -y wget)")
    with LocalServer() as server:
        subprocess.run(["wget", "-q", f"--warc-file={tmp_path / 'site'}", "-p", "-P",
                        str(tmp_path / "dl"), server.url("/"), server.url("/chunked")],
                       check=False, timeout=60)
    path = tmp_path / "site.warc.gz"
    code, report = verify_warc(path)
    assert code == 0, failed(report)
    assert report["kind"] == "warc"
    warcio = subprocess.run(["warcio", "check", str(path)], capture_output=True, timeout=60,
                            check=False)
    assert warcio.returncode == 0


# -- digests in every algorithm and encoding --------------------------------------------------


@pytest.mark.parametrize("algo", ["sha1", "sha256", "sha512", "md5"])
@pytest.mark.parametrize("encoding", ["base16", "base32", "base32-unpadded"])
def test_digest_algorithms_and_encodings(tmp_path: Path, algo: str, encoding: str) -> None:
    path = write(tmp_path / "a.warc.gz", [warcinfo(algo=algo, encoding=encoding),
                                          response(b"hello", algo=algo, encoding=encoding)])
    assert run(path)["result"] == "pass"
    broken = write(tmp_path / "b.warc.gz", [response(b"hello", algo=algo, encoding=encoding)
                                            .replace(b"hello", b"jello")])
    assert "record.blockDigest" in checks(run(broken))


def test_chunked_payload_digest_either_way(tmp_path: Path) -> None:
    framed = b"5\r\nhello\r\n0\r\n\r\n"
    http = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + framed
    recorded = record("response", http, uri="http://e/1", payload=framed)
    decoded = record("response", http, uri="http://e/2", payload=b"hello")
    report = run(write(tmp_path / "c.warc.gz", [recorded, decoded]), all_records=True)
    assert report["result"] == "pass", failed(report)
    messages = " ".join(f["message"] for f in report["findings"] if f["check"] == "record")
    assert "as recorded" in messages and "transfer-decoded" in messages


def test_no_digests_is_not_ok(tmp_path: Path) -> None:
    path = write(tmp_path / "n.warc.gz", [warcinfo(digests=False),
                                          response(b"x", digests=False)])
    code, report = verify_warc(path)
    assert code == 3
    assert "warc.noDigests" in checks(report)
    assert "record.noDigest" in checks(report, "warn")
    some = write(tmp_path / "s.warc.gz", [warcinfo(digests=False), response(b"x")])
    report = run(some)
    assert report["result"] == "pass" and "record.noDigest" in checks(report, "warn")
    assert run(some, strict=True)["result"] == "fail"


# -- headers, ids, targets, revisits ----------------------------------------------------------


@pytest.mark.parametrize("header", ["WARC-Record-ID", "WARC-Date", "WARC-Type"])
def test_mandatory_headers(tmp_path: Path, header: str) -> None:
    path = write(tmp_path / "h.warc.gz", [response(b"x", drop=[header])])
    found = [f for f in failed(run(path)) if f["check"] == "record.headers"]
    assert any(header in f["message"] for f in found)


def test_duplicate_ids_and_missing_targets(tmp_path: Path) -> None:
    same = new_id()
    path = write(tmp_path / "d.warc.gz", [
        response(b"a", record_id=same), response(b"b", record_id=same),
        record("request", b"GET / HTTP/1.1\r\n\r\n", uri="http://e/", payload=b"",
               extra=[("WARC-Concurrent-To", new_id())]),
        record("metadata", b"{}", extra=[("WARC-Refers-To", new_id())])])
    report = run(path)
    assert "record.duplicateId" in checks(report)
    assert {"record.concurrentTo", "record.refersTo"} <= checks(report, "warn")


def _revisit(original: bytes, payload_label: str, **extra: str) -> bytes:
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
    headers = [("WARC-Profile", IDENTICAL), ("WARC-Payload-Digest", payload_label),
               *extra.items()]
    return record("revisit", http, uri="http://example.com/", extra=headers)


def test_revisits_against_originals(tmp_path: Path) -> None:
    body = b"the same page"
    rid = new_id()
    original = response(body, record_id=rid)
    good = _revisit(original, label(body), **{"WARC-Refers-To": rid})
    bad = _revisit(original, label(b"another page"), **{"WARC-Refers-To": rid})
    elsewhere = _revisit(original, label(body), **{"WARC-Refers-To": new_id()})
    first = write(tmp_path / "1.warc.gz", [original])
    second = write(tmp_path / "2.warc.gz", [good, bad, elsewhere])
    report = run(first, second)
    assert "revisit.digest" in checks(report)
    assert "revisit.original" in checks(report, "warn")
    assert "revisit" in checks(report, "pass")
    alone = run(second)  # without the first file, no original can be checked
    assert "revisit.digest" not in checks(alone)


# -- damaged and foreign input ----------------------------------------------------------------


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9, -1])
@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
def test_truncated_file_fails_with_offset(tmp_path: Path, cut: float, gz: bool) -> None:
    records = [warcinfo(), *(response(b"body %d " % i * 500) for i in range(8))]
    path = write(tmp_path / "t.warc", records, gz=gz)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)] if cut > 0 else data[:-1])
    code, report = verify_warc(path)
    assert code == 3
    assert [f for f in failed(report) if f["check"] == "warc.format" and "offset" in
            f["message"]]


@pytest.mark.parametrize("content", [b"", b"hello world\n", gzip.compress(b"<html>"),
                                     b"\x1f\x8b\x08garbage", b"WARZ/1.1\r\n"])
def test_not_a_warc_exits_4(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.warc.gz"
    path.write_bytes(content)
    code, report = verify_warc(path)
    assert code == 4 and report == {}
    with pytest.raises(NotATargetError):
        verify_warcs([path])


def test_directory_and_missing_file_exit_4(tmp_path: Path) -> None:
    assert verify_warc(tmp_path)[0] == 4
    assert verify_warc(tmp_path / "missing.warc")[0] == 4


def test_trailing_garbage_fails(tmp_path: Path) -> None:
    path = write(tmp_path / "g.warc.gz", [warcinfo(), response(b"x")])
    path.write_bytes(path.read_bytes() + b"not gzip at all")
    assert "warc.format" in checks(run(path))


# -- ranges read in parallel join exactly like one reading ------------------------------------


def _nested(gz: bool) -> list[bytes]:
    """Records, one of which holds whole WARC records (gzipped too) in its body: traps for a
    reader that guesses where records start."""
    inner = warcinfo() + response(b"inner")
    trap = inner + gzip.compress(inner, mtime=0) + b"\r\n\r\n" + inner
    return [warcinfo(), *(response(b"%d " % i * 3000) for i in range(40)),
            response(trap * 20), *(response(b"after %d" % i * 2000) for i in range(40))]


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
@pytest.mark.parametrize("mode", ["leaf", "full"])
def test_ranges_join_like_one_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      gz: bool, mode: str) -> None:
    from provenance.verification import parallel

    path = tmp_path / "n.warc"
    records = _nested(gz)
    # level 0 stores deflate blocks as they are: the nested gzip member shows in the file
    path.write_bytes(b"".join(gzip.compress(r, compresslevel=0, mtime=0) for r in records)
                     if gz else b"".join(records))
    monkeypatch.setattr(parallel, "RANGE_BYTES", 16 * 1024)
    monkeypatch.setattr(parallel, "POOL_MIN_BYTES", 0)
    with parallel.Engine(1) as one, parallel.Engine(2) as two:
        alone, split = one.scan(path, mode), two.scan(path, mode)
    assert alone.error is None and split.error is None
    assert (split.count, split.leaves, split.records, split.sha256) == (
        alone.count, alone.leaves, alone.records, alone.sha256)
    assert alone.count == len(records)


def test_parallel_verify_of_damaged_file_names_the_record(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from provenance.verification import parallel

    monkeypatch.setattr(parallel, "RANGE_BYTES", 16 * 1024)
    monkeypatch.setattr(parallel, "POOL_MIN_BYTES", 0)
    records = [warcinfo(), *(response(b"%d " % i * 3000) for i in range(60))]
    path = write(tmp_path / "d.warc", records, gz=False)
    data = bytearray(path.read_bytes())
    at = data.index(b"37 37 37")
    data[at] ^= 1
    path.write_bytes(bytes(data))
    one = verify_warcs([path], jobs=1).as_json()
    two = verify_warcs([path], jobs=2).as_json()
    assert one["findings"] == two["findings"]
    assert any(f["check"] == "record.blockDigest" for f in failed(two))


# -- the progress display ------------------------------------------------------------------


def test_progress_on_a_terminal_leaves_json_alone(tmp_path: Path) -> None:
    import os

    from helpers import run_prov, run_prov_on_terminal

    path = write(tmp_path / "m.warc.gz", [warcinfo(), *(response(b"%d" % i * 999)
                                                       for i in range(50))])
    plain = run_prov("verify-warc", "--json", path, timeout=120)
    live, drawn = run_prov_on_terminal("verify-warc", "--json", path, env=dict(os.environ))
    assert live.returncode == plain.returncode == 0
    assert live.stdout.decode() == plain.stdout  # --json output unchanged by the display
    assert b"1/1 files" in drawn and b"MB/s" in drawn and b"0 failures" in drawn
    assert drawn.endswith(b"\x1b[2K")  # erased at the end
    assert plain.stderr == ""  # stderr not a terminal: nothing of it


def test_engine_skips_planned_files_never_asked_for(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from provenance.verification import parallel

    monkeypatch.setattr(parallel, "POOL_MIN_BYTES", 0)
    paths = [write(tmp_path / f"{i}.warc.gz", [warcinfo(), response(b"%d" % i * 100)])
             for i in range(6)]
    with parallel.Engine(2) as engine:
        engine.plan(paths)
        last = engine.scan(paths[4])  # 0..3 skipped, as for captures whose seal failed
        first = engine.scan(paths[0])  # asked for anyway: read now
        assert (last.count, first.count) == (2, 2)
        assert engine.tally.files_done == 2
        assert engine.tally.files_total == 3  # 4 and 0 done, 5 still planned
        assert engine.scan(paths[5]).error is None


# -- each digest situation (FORMATS "verify-warc's checks") -----------------------------------


def _payload_only(body: bytes, **kw: Any) -> bytes:
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + body
    return record("response", http, uri="http://e/", digests=False,
                  extra=[("WARC-Payload-Digest", label(body, "sha1", "base32"))], **kw)


def test_payload_digests_alone_are_a_check(tmp_path: Path) -> None:
    """Heritrix and pywb write WARC-Payload-Digest without WARC-Block-Digest."""
    path = write(tmp_path / "h.warc.gz", [warcinfo(digests=False), _payload_only(b"a"),
                                          _payload_only(b"b")])
    report = run(path)
    assert report["result"] == "pass", failed(report)
    summary = next(f["message"] for f in report["findings"] if f["check"] == "warc")
    assert "2 payload only" in summary and "1 with neither" in summary
    bad = write(tmp_path / "b.warc.gz", [_payload_only(b"a").replace(b"\r\n\r\na", b"\r\n\r\nz")])
    assert "record.payloadDigest" in checks(run(bad))


def test_resource_payload_is_its_block(tmp_path: Path) -> None:
    block = b"<html>a resource</html>"
    resource = record("resource", block, uri="http://e/r", payload=block)
    path = write(tmp_path / "r.warc.gz", [resource])
    assert run(path)["result"] == "pass"
    wrong = record("resource", block, uri="http://e/r", payload=b"")  # the old reading
    assert "record.payloadDigest" in checks(run(write(tmp_path / "w.warc.gz", [wrong])))


def test_metadata_payload_digest_is_a_warning_when_it_is_the_blocks(tmp_path: Path) -> None:
    block = b"via: tests\r\n"
    same = record("metadata", block, payload=block)
    report = run(write(tmp_path / "m.warc.gz", [same]))
    assert report["result"] == "pass" and "record.payloadDigest" in checks(report, "warn")
    other = record("metadata", block, payload=b"something else")
    assert "record.payloadDigest" in checks(run(write(tmp_path / "o.warc.gz", [other])))


def test_http_payload_digest_of_the_whole_block_fails(tmp_path: Path) -> None:
    http = HTTP_HEAD % 2 + b"hi"
    rec = record("response", http, uri="http://e/", payload=http)
    report = run(write(tmp_path / "p.warc.gz", [rec]))
    found = [f for f in failed(report) if f["check"] == "record.payloadDigest"]
    assert found and "entity-body" in found[0]["message"]


@pytest.mark.parametrize("value", ["sha1:1112H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ", "sha256:abc",
                                   "crc32:0a1b2c3d", "no-colon-at-all", "sha1:"])
@pytest.mark.parametrize("header", ["WARC-Block-Digest", "WARC-Payload-Digest"])
def test_digest_that_cannot_be_checked_fails(tmp_path: Path, value: str, header: str) -> None:
    http = HTTP_HEAD % 1 + b"x"
    good = ("WARC-Block-Digest", label(http))
    rec = record("response", http, uri="http://e/", digests=False,
                 extra=[(header, value), *([good] if header != good[0] else [])])
    report = run(write(tmp_path / "u.warc.gz", [rec]))
    check = "record.blockDigest" if header == "WARC-Block-Digest" else "record.payloadDigest"
    found = [f for f in failed(report) if f["check"] == check]
    assert found and found[0]["found"] == value and "cannot be checked" in found[0]["message"]


@pytest.mark.parametrize("urlsafe", [False, True])
def test_base64_digests_are_checked(tmp_path: Path, urlsafe: bool) -> None:
    import base64
    import hashlib

    http = HTTP_HEAD % 1 + b"x"
    enc = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    value = "sha1:" + enc(hashlib.sha1(http).digest()).decode()
    rec = record("response", http, uri="http://e/", digests=False,
                 extra=[("WARC-Block-Digest", value)])
    assert run(write(tmp_path / "b.warc.gz", [rec]))["result"] == "pass"
    broken = rec.replace(b"\r\n\r\nx", b"\r\n\r\ny")
    assert "record.blockDigest" in checks(run(write(tmp_path / "c.warc.gz", [broken])))


@pytest.mark.parametrize("profile", [
    "http://netpreserve.org/warc/0.18/revisit/identical-payload-digest",
    "http://netpreserve.org/warc/1.0/revisit/uri-agnostic-identical-payload-digest"])
def test_old_and_uri_agnostic_revisit_profiles_are_checked(tmp_path: Path, profile: str) -> None:
    body = b"same"
    original = response(body, uri="http://e/a")
    http = b"HTTP/1.1 200 OK\r\n\r\n"

    def revisit(payload: bytes) -> bytes:
        return record("revisit", http, uri="http://e/b", extra=[
            ("WARC-Profile", profile), ("WARC-Payload-Digest", label(payload)),
            ("WARC-Refers-To-Target-URI", "http://e/a"),
            ("WARC-Refers-To-Date", "2024-03-04T12:00:00Z")])

    good = run(write(tmp_path / "g.warc.gz", [original, revisit(body)]))
    assert good["result"] == "pass" and "revisit" in checks(good, "pass")
    bad = run(write(tmp_path / "b.warc.gz", [original, revisit(b"other")]))
    assert "revisit.digest" in checks(bad)


def test_empty_gzip_member_first_is_still_a_warc(tmp_path: Path) -> None:
    path = write(tmp_path / "e.warc.gz", [warcinfo(), response(b"x")])
    path.write_bytes(gzip.compress(b"", mtime=0) + path.read_bytes())
    code, report = verify_warc(path)
    assert code == 0, failed(report)


def test_wrong_content_length_resynchronises_at_next_member(tmp_path: Path) -> None:
    records = [warcinfo(), response(b"first"), response(b"second"), response(b"third")]
    records[1] = records[1].replace(b"Content-Length: 68\r\n\r\n", b"Content-Length: 72\r\n\r\n")
    assert b"Content-Length: 72" in records[1]
    tampered = records[3].replace(b"third", b"thirt")
    path = write(tmp_path / "f.warc.gz", [*records[:3], tampered])
    report = run(path)
    formats = [f for f in failed(report) if f["check"] == "warc.format"]
    assert len(formats) == 1 and "resumed" in formats[0]["message"]
    assert "record.blockDigest" in checks(report)  # the record after the damage was checked
    plain = run(write(tmp_path / "p.warc", [*records[:3], tampered], gz=False))
    assert "record.blockDigest" not in checks(plain)  # no members to resume at


def test_no_digest_finding_names_no_expected_value(tmp_path: Path) -> None:
    path = write(tmp_path / "n.warc.gz", [warcinfo(digests=False), response(b"x")])
    finding = next(f for f in run(path)["findings"] if f["check"] == "record.noDigest")
    assert finding.get("expected") is None and finding.get("found") is None
    assert finding["message"].startswith("1 of 2 records")


def test_batches_and_ranges_give_one_report(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Records judged in batches of three (read here) or in 16 KB ranges by two workers (read
    a window at a time) give the report of one reading: counts, findings, cross-record checks."""
    from archive.warc import scan
    from provenance.verification import parallel

    same = new_id()
    records = [warcinfo(digests=False), *(response(b"%d " % i * 900) for i in range(30)),
               response(b"dup", record_id=same), response(b"dup again", record_id=same),
               record("metadata", b"x", extra=[("WARC-Refers-To", new_id())]),
               response(b"no digest", digests=False)]
    path = write(tmp_path / "b.warc", records, gz=False)
    whole = verify_warcs([path], jobs=1).as_json()
    monkeypatch.setattr(scan, "FLUSH", 3)
    batched = verify_warcs([path], jobs=1).as_json()
    monkeypatch.setattr(parallel, "RANGE_BYTES", 16 * 1024)
    monkeypatch.setattr(parallel, "POOL_MIN_BYTES", 0)
    ranged = verify_warcs([path], jobs=2).as_json()
    assert whole["findings"] == batched["findings"] == ranged["findings"]
    assert {"record.duplicateId"} == checks(whole)
    assert {"record.noDigest", "record.refersTo"} <= checks(whole, "warn")
    summary = next(f["message"] for f in whole["findings"] if f["check"] == "warc")
    assert summary.startswith(f"{len(records)} records")


def _segmented(body: bytes, payload: bytes, *, last_total: bool = True) -> list[bytes]:
    """A response cut in three segments (WARC 1.1 section 7): its payload digest is that of
    the whole body, each segment has its own block digest."""
    http = HTTP_HEAD % len(body) + body
    parts = [http[:40], http[40:90], http[90:]]
    origin = new_id()
    first = record("response", parts[0], uri="http://e/big", record_id=origin,
                   extra=[("WARC-Segment-Number", "1"),
                          ("WARC-Payload-Digest", label(payload))])
    rest = []
    for number, part in enumerate(parts[1:], start=2):
        extra = [("WARC-Segment-Origin-ID", origin), ("WARC-Segment-Number", str(number))]
        if number == 3 and last_total:
            extra.append(("WARC-Segment-Total-Length", str(len(http))))
        rest.append(record("continuation", part, uri="http://e/big", extra=extra))
    return [first, *rest]


def test_segmented_record_payload_is_the_logical_records(tmp_path: Path) -> None:
    body = b"the whole body, longer than one segment " * 3
    good = run(write(tmp_path / "s.warc.gz", [warcinfo(), *_segmented(body, body)]))
    assert good["result"] == "pass", failed(good)
    assert "record.segments" in checks(good, "pass")
    bad = run(write(tmp_path / "b.warc.gz", [warcinfo(), *_segmented(body, b"other")]))
    assert "record.payloadDigest" in checks(bad)
    # the first segment in one file, the rest in another: checked across files
    first, *rest = _segmented(body, body)
    across = run(write(tmp_path / "1.warc.gz", [first]), write(tmp_path / "2.warc.gz", rest))
    assert "record.segments" in checks(across, "pass")
    alone = run(write(tmp_path / "a.warc.gz", [first]))
    assert "record.payloadDigest" in checks(alone, "warn") and alone["result"] == "pass"


@pytest.mark.parametrize(("second", "verdict"), [
    ("right", "pass"), ("wrong", "fail"), ("unknown", "fail")])
@pytest.mark.parametrize("header", ["WARC-Block-Digest", "WARC-Payload-Digest"])
def test_repeated_digest_header_is_checked_too(tmp_path: Path, header: str, second: str,
                                               verdict: str) -> None:
    body = b"body"
    http = HTTP_HEAD % len(body) + body
    covered = http if header == "WARC-Block-Digest" else body
    value = {"right": label(covered, "sha1", "base32"), "wrong": label(b"other", "sha1"),
             "unknown": "blake9:abcd"}[second]
    rec = record("response", http, uri="http://e/", payload=body, extra=[(header, value)])
    report = run(write(tmp_path / "r.warc.gz", [rec]))
    assert report["result"] == verdict, failed(report)
