"""Deduplication (DESIGN, "Deduplication"; WARC 1.1 section 6.7.2, identical-payload-digest).

An unchanged response becomes a revisit whose headers name its original exactly; what must be
equal (decoded-body sha256, Content-Encoding, Transfer-Encoding) is equal or nothing is
deduplicated; the index in state/ is rebuilt from the WARCs; peers' checkers accept the
files; and verify checks every revisit against its original, failing a revisit whose
original is missing or differs, in a case whose seals are otherwise all good.
"""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import make_case, prov_env, run_prov
from scheduling import WatchedSite, captures, html_page, schedule_run, verify_ok, write_sources
from servers import LocalServer
from warcio.archiveiterator import ArchiveIterator

from archive.http.revisit import PROFILE, Original
from provenance import api
from provenance.base import timefmt
from provenance.capture import snapshot as capture_mod
from provenance.signing.keys import SigningKey

BIN = Path(sys.executable).parent


def records(folder: Path) -> list[tuple[dict[str, str], bytes]]:
    out = []
    for warc in sorted(folder.glob("*.warc.gz")):
        with open(warc, "rb") as fh:
            for record in ArchiveIterator(fh, no_record_parse=True):
                out.append((dict(record.rec_headers.headers), record.raw_stream.read()))
    return out


def by_type(folder: Path, warc_type: str) -> dict[str, tuple[dict[str, str], bytes]]:
    return {h["WARC-Target-URI"]: (h, b) for h, b in records(folder)
            if h["WARC-Type"] == warc_type}


@pytest.fixture
def site(http_server: LocalServer) -> WatchedSite:
    site = WatchedSite(http_server)
    words = random.Random(7).choices(["vote", "ballot", "count", "poll", "result", "seat"], k=30000)
    site.page("/page", "<p>" + " ".join(words) + "</p>", requisites=("/a.png", "/s.css"))
    site.image("/a.png", 200)
    site.raw("/s.css", b"200 OK", [(b"Content-Type", b"text/css")], b"body { color: red }")
    return site


def test_unchanged_responses_become_revisits(site: WatchedSite, tmp_path: Path) -> None:
    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    sources = write_sources(tmp_path, [{"url": site.url("/page"), "requisites": True}])
    for _ in range(2):
        assert schedule_run(env, sources, case, "--all").returncode == 0
    first, second = captures(case)
    originals = by_type(first, "response")
    revisits = by_type(second, "revisit")
    assert set(revisits) == set(originals) == {site.url(p) for p in ("/page", "/a.png",
                                                                        "/s.css")}
    assert by_type(second, "response") == {}
    for url, (head, block) in revisits.items():
        original_head, original_block = originals[url]
        assert head["WARC-Refers-To"] == original_head["WARC-Record-ID"]
        assert head["WARC-Refers-To-Target-URI"] == url
        assert head["WARC-Refers-To-Date"] == original_head["WARC-Date"]
        assert head["WARC-Payload-Digest"] == original_head["WARC-Payload-Digest"]
        assert head["WARC-Profile"] == PROFILE
        assert head["WARC-Truncated"] == "length"
        assert head["Content-Type"] == "application/http;msgtype=response"
        # the block is the HTTP header block as received, and nothing after it
        assert block.endswith(b"\r\n\r\n") and block.count(b"\r\n\r\n") == 1
        assert original_block.startswith(block)
    metadata = by_type(second, "metadata")
    for url, (head, block) in metadata.items():  # still one metadata record per exchange
        if url in revisits:
            assert head["WARC-Concurrent-To"] == revisits[url][0]["WARC-Record-ID"]
            assert json.loads(block)["decodedBodySha256"]
    assert sum(p.stat().st_size for p in second.glob("*.warc.gz")) < sum(
        p.stat().st_size for p in first.glob("*.warc.gz")) / 2
    report = verify_ok(env, case, key_pub)
    assert any(f["check"] == "revisit" and f["status"] == "pass" for f in report["findings"])


def test_peer_checkers_accept_revisits(site: WatchedSite, tmp_path: Path) -> None:
    case, _ = make_case(tmp_path)
    env = prov_env(tmp_path)
    sources = write_sources(tmp_path, [{"url": site.url("/page"), "requisites": True}])
    for _ in range(2):
        assert schedule_run(env, sources, case, "--all").returncode == 0
    warc = next(captures(case)[1].glob("*.warc.gz"))
    warcio = subprocess.run([str(BIN / "warcio"), "check", "-v", str(warc)],
                            capture_output=True, text=True, check=False)
    assert warcio.returncode == 0, warcio.stdout + warcio.stderr
    lines = warcio.stdout.splitlines()
    kinds = [line.split()[-1] for line in lines if "WARC-Record-ID" in line]
    verdicts = [line.strip() for line in lines if "WARC-Record-ID" not in line][1:]
    assert kinds.count("revisit") == 3
    for kind, verdict in zip(kinds, verdicts, strict=True):
        assert verdict == ("digest present but not checked (revisit)" if kind == "revisit"
                           else "digest pass"), (kind, verdict)
    fastwarc = subprocess.run([str(BIN / "fastwarc"), "check", str(warc)],
                              capture_output=True, text=True, check=False)
    assert fastwarc.returncode == 0, fastwarc.stdout + fastwarc.stderr


def test_what_must_be_equal(http_server: LocalServer, tmp_path: Path) -> None:
    """Transfer-Encoding and Content-Encoding take part; truncated and empty never dedupe."""
    site = WatchedSite(http_server)
    body = html_page("t", "<p>" + "x y z " * 300 + "</p>")
    html = [(b"Content-Type", b"text/html")]
    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    sources = write_sources(tmp_path, [{"url": site.url("/te")}, {"url": site.url("/ce")},
                                       {"url": site.url("/empty")}])
    zipped = gzip.compress(body, mtime=0)
    steps: list[tuple[bool, list[tuple[bytes, bytes]]]] = [
        (False, html), (True, html), (True, html)]  # length, chunked, chunked again
    for number, (chunk, ce_headers) in enumerate(steps):
        site.raw("/te", b"200 OK", ce_headers, body, chunk=chunk)
        site.raw("/ce", b"200 OK", html + ([(b"Content-Encoding", b"gzip")] if number == 1
                                           else []), zipped)
        site.raw("/empty", b"204 No Content", [], b"")
        assert schedule_run(env, sources, case, "--all").returncode == 0
    kinds = [{u: h["WARC-Type"] for h, _ in records(c)
              if (u := h.get("WARC-Target-URI", "")).startswith("http")
              and h["WARC-Type"] in ("response", "revisit")} for c in captures(case)]
    assert [k[site.url("/te")] for k in kinds] == ["response", "response", "revisit"]
    assert [k[site.url("/ce")] for k in kinds] == ["response", "response", "response"]
    assert [k[site.url("/empty")] for k in kinds] == ["response"] * 3
    verify_ok(env, case, key_pub)


def test_index_is_rebuilt_from_the_warcs(site: WatchedSite, tmp_path: Path) -> None:
    case, _ = make_case(tmp_path)
    env = prov_env(tmp_path)
    sources = write_sources(tmp_path, [{"url": site.url("/page"), "requisites": True}])
    assert schedule_run(env, sources, case, "--all").returncode == 0
    index = case / "state" / "dedup.json"
    before = json.loads(index.read_text())
    index.unlink()
    assert schedule_run(env, sources, case, "--all").returncode == 0
    assert len(by_type(captures(case)[1], "revisit")) == 3
    after = json.loads(index.read_text())
    assert after["urls"] == before["urls"]  # revisits leave their originals in the index
    index.write_text("{not json")
    assert schedule_run(env, sources, case, "--all").returncode == 0
    assert len(by_type(captures(case)[2], "revisit")) == 3


# -- verify --------------------------------------------------------------------------------


def _case_with_hook(tmp_path: Path, site: WatchedSite, wrong: str) -> tuple[Path, Path]:
    """A case whose second capture's revisit has one thing ``wrong``, sealed and logged
    properly: only the revisit check can find it."""
    key = SigningKey.generate("dedup-test")
    key_pub = tmp_path / "k.pub"
    key_pub.write_bytes(key.public.pem())
    case = api.init_case(tmp_path / "case", "t", key, timefmt.utc_now())
    options = api.capture_options()
    first = capture_mod.snapshot(case, [site.url("/page")], key, options)
    head = by_type(case.root / first.capture_dir, "response")[site.url("/page")][0]
    good = Original(head["WARC-Record-ID"], site.url("/page"), head["WARC-Date"],
                    head["WARC-Payload-Digest"])
    bad = {"none": good,
           "id": Original("<urn:uuid:00000000-0000-4000-8000-000000000000>", good.target_uri,
                          good.date, good.payload_digest),
           "digest": Original(good.record_id, good.target_uri, good.date, "sha256:" + "0" * 64),
           "date": Original(good.record_id, good.target_uri, "2020-01-01T00:00:00.000000Z",
                            good.payload_digest)}[wrong]

    def hook(ex: Any, record: Any) -> Original:
        return bad

    capture_mod.snapshot(case, [site.url("/page")], key, options, dedup=hook)
    return case.root, key_pub


@pytest.mark.parametrize(("wrong", "check"), [("none", None), ("id", "revisit.original"),
                                              ("digest", "revisit.digest"),
                                              ("date", "revisit.original")])
def test_verify_checks_each_revisit(wrong: str, check: str | None, site: WatchedSite,
                                    tmp_path: Path, prov_home: Path) -> None:
    case, key_pub = _case_with_hook(tmp_path, site, wrong)
    proc = run_prov("verify", str(case), "--trust", str(key_pub), "--json", "--no-remember")
    report = json.loads(proc.stdout)
    failed = [f for f in report["findings"] if f["status"] == "fail"]
    if check is None:
        assert proc.returncode == 0, failed
        return
    assert proc.returncode == 3
    assert [f["check"] for f in failed] == [check]
    assert "revisit" in failed[0]["subject"] or "@" in failed[0]["subject"]
    assert all(f["status"] == "pass" for f in report["findings"]
               if f["check"] in ("seal.signature", "capture"))
