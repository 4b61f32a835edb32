"""Hostile servers (issue 5, item 4): prov stays within its limits, records what it got,
reports each case, never crashes, and the capture still verifies.

Real servers on 127.0.0.1 (`servers.LocalServer`) send an endless body, drip one byte a
second, send 1 MiB of headers, malformed status lines and headers, close mid-response, loop
redirects, present expired, self-signed and wrong-host certificates, send gzip bombs and a
page of 200,000 nested ``<div>``s, or link to pages without end. Each capture runs the real
`prov` command; its WARC is read back with warcio and checked by `warcio check` and
`fastwarc check`, and `prov verify` must pass. Exit codes are the README's: 0, or 5 when a
URL could not be captured.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import PROV_MAIN, gzip_bomb, make_case, prov_env, run_prov
from servers import (
    PNG_BODY,
    RESPONSES,
    LocalServer,
    big_head,
    gzip_bomb_response,
    response,
)
from servers import Exchange as ServerExchange
from test_snapshot import (
    EXIT_CAPTURE_FAILED,
    Group,
    Rec,
    assert_digests,
    assert_peer_checks,
    capture_warcs,
    exchanges,
    groups_for,
    read_records,
)
from testca import TestCA

PARSE_TIMEOUT = 6.0  # PROV_PARSE_TIMEOUT for the hostile batch: far below the deep page's need
TIMEOUT = 3  # --timeout of the hostile batch
MAX_BODY = 2_000_000  # --max-body of the hostile batch
MAX_HEADER = 256 << 10  # recorder.FetchLimits.max_header


# -- hostile routes ---------------------------------------------------------------------------


def drip(ex: ServerExchange) -> None:
    """Promises 100 bytes and sends one per second."""
    ex.close = True
    ex.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n")
    for _ in range(100):
        if not ex.sleep(1.0):
            return
        ex.write(b"x")


TRICKLE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
TRICKLE_CHUNK = b"400\r\n" + b"t" * 1024 + b"\r\n"


def trickle(ex: ServerExchange) -> None:
    """An endless chunked body at about 20 KiB/s: --timeout cuts it long before --max-body."""
    ex.close = True
    ex.write(TRICKLE_HEAD)
    while ex.sleep(0.05):
        ex.write(TRICKLE_CHUNK)


def link_farm(ex: ServerExchange) -> bytes:
    """Every page links to ten new pages below it: a crawl of it never ends by itself."""
    path = ex.request.path.rstrip("/")
    links = "".join(f'<a href="{path}/{i}">{i}</a> ' for i in range(10))
    return response(b"200 OK", [(b"Content-Type", b"text/html")],
                    f"<!DOCTYPE html><html><body>{links}</body></html>".encode())


BOMB_PREFIX = b'<!DOCTYPE html><html><body><img src="/image.png"><p>'


def html_bomb() -> bytes:
    """A text/html page, gzip-encoded: about 1 MB that inflates to the prefix and 1 GiB of
    zeros (`helpers.gzip_bomb`)."""
    headers = [(b"Content-Type", b"text/html; charset=utf-8"), (b"Content-Encoding", b"gzip")]
    return response(b"200 OK", headers, gzip_bomb(1025, prefix=BOMB_PREFIX))


DEEP_BODY = (b"<!DOCTYPE html><html><body>" + b"<div>" * 200_000
             + b'<img src="/never-seen.png"></body></html>')


def serve_hostile(server: LocalServer) -> None:
    server.add_route("/drip", drip)
    server.add_route("/trickle", trickle)
    server.add_route("/farm/", link_farm, prefix=True)
    server.add_route("/bomb.html", html_bomb())
    server.add_route("/deep.html", response(b"200 OK", [(b"Content-Type", b"text/html")],
                                            DEEP_BODY))


# -- running prov -----------------------------------------------------------------------------


@dataclass
class Run:
    """One `prov snapshot` (text summary) and what it left behind."""

    proc: subprocess.CompletedProcess[str]
    case: Path
    key_pub: Path
    env: dict[str, str]
    seconds: float
    capture_dir: str
    lines: dict[str, tuple[str, str]]  # URL -> (status column, detail column)
    records: list[Rec]
    warcs: list[Path]

    @property
    def groups(self) -> list[Group]:
        return exchanges(self.records)

    def group(self, url: str) -> Group:
        [group] = groups_for(self.groups, url)
        return group

    def log(self) -> list[dict[str, object]]:
        proc = run_prov("log", "show", "--case", str(self.case), "--json", env=self.env)
        assert proc.returncode == 0, proc.stderr
        entries = json.loads(proc.stdout)
        assert isinstance(entries, list)
        return entries


SUMMARY_LINE = re.compile(
    r"^(\d{3}|FAILED|NOT FETCHED)\t(\S+)(?: \((?:seed|requisite|link)\))?\t(.*)$")


def capture(tmp: Path, *args: str, env_extra: dict[str, str] | None = None,
            timeout: float = 120) -> Run:
    """`prov snapshot ARGS` with its text summary (one line per URL: stdout is a pipe)."""
    case, key_pub = make_case(tmp)
    env = prov_env(tmp) | (env_extra or {})
    start = time.monotonic()
    proc = run_prov("snapshot", "--case", str(case), *args, env=env, timeout=timeout)
    seconds = time.monotonic() - start
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode in (0, EXIT_CAPTURE_FAILED), proc.stdout + proc.stderr
    match = re.search(r"^capture \S+ sealed in (\S+)$", proc.stdout, re.M)
    assert match, proc.stdout + proc.stderr
    lines = {}
    for line in proc.stdout.splitlines():
        parsed = SUMMARY_LINE.match(line)
        if parsed:
            lines[parsed[2]] = (parsed[1], parsed[3])
    warcs = capture_warcs(case, match[1])
    records = [r for w in warcs for r in read_records(w)]
    return Run(proc, case, key_pub, env, seconds, match[1], lines, records, warcs)


def assert_verifies(run: Run) -> None:
    for warc in run.warcs:
        assert_peer_checks(warc)
    proc = run_prov("verify", str(run.case), "--trust", str(run.key_pub), env=run.env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- one capture of many hostile servers ------------------------------------------------------

HOSTILE = (
    "/endless",
    "/trickle",
    "/drip",
    "/headers-huge",
    "/malformed-status",
    "/malformed-header",
    "/close-mid",
    "/redirect-loop-a",
    "/gzip-bomb",
    "/bomb.html",
    "/deep.html",
)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Run, LocalServer]]:
    tmp = tmp_path_factory.mktemp("hostile")
    with LocalServer() as server:
        serve_hostile(server)
        urls = [server.url(p) for p in HOSTILE]
        run = capture(tmp, "--requisites", "--timeout", str(TIMEOUT), "--max-body",
                      str(MAX_BODY), *urls,
                      env_extra={"PROV_PARSE_TIMEOUT": str(PARSE_TIMEOUT)})
        yield run, server


def test_hostile_batch_finishes_in_bounded_time_and_verifies(
    hostile: tuple[Run, LocalServer],
) -> None:
    run, server = hostile
    # five URLs cannot be captured (header limit, two malformed, redirect loop): exit 5
    assert run.proc.returncode == EXIT_CAPTURE_FAILED, run.proc.stdout + run.proc.stderr
    failed = {u for u, (status, _) in run.lines.items() if status == "FAILED"}
    assert failed == {server.url(p) for p in ("/headers-huge", "/malformed-status",
                                              "/malformed-header", "/redirect-loop-a")}
    assert re.search(r"4 of \d+ URLs could not be captured", run.proc.stderr)
    # the slowest limit is the parse time limit of the deep page, not the page's own need
    assert run.seconds < PARSE_TIMEOUT + 25, run.seconds
    # every seed is reported, each once
    for path in HOSTILE:
        assert server.url(path) in run.lines, path
    assert_verifies(run)


def test_endless_body_is_cut_at_max_body(hostile: tuple[Run, LocalServer]) -> None:
    run, server = hostile
    url = server.url("/endless")
    status, detail = run.lines[url]
    assert status == "200" and "truncated: length" in detail
    group = run.group(url)
    assert group.response is not None
    assert group.response.get("WARC-Truncated") == "length"
    assert len(group.response.http_payload) == MAX_BODY  # the first --max-body bytes as sent
    assert group.meta["truncated"] == "length"
    assert_digests(group.response)


def test_endless_trickle_is_cut_at_timeout(hostile: tuple[Run, LocalServer]) -> None:
    run, server = hostile
    url = server.url("/trickle")
    status, detail = run.lines[url]
    assert status == "200" and "truncated: time" in detail
    group = run.group(url)
    assert group.response is not None
    assert group.response.get("WARC-Truncated") == "time"
    assert group.response.http_head == TRICKLE_HEAD
    payload = group.response.http_payload
    assert 0 < len(payload) < MAX_BODY
    assert (TRICKLE_CHUNK * (len(payload) // len(TRICKLE_CHUNK) + 1)).startswith(payload)


def test_drip_is_cut_at_timeout(hostile: tuple[Run, LocalServer]) -> None:
    run, server = hostile
    url = server.url("/drip")
    status, detail = run.lines[url]
    assert status == "200" and "truncated: time" in detail
    group = run.group(url)
    assert group.response is not None
    assert group.response.get("WARC-Truncated") == "time"
    assert set(group.response.http_payload) <= {ord("x")}
    assert len(group.response.http_payload) <= TIMEOUT
    assert group.meta["decodedBodyLength"] == len(group.response.http_payload)


def test_huge_header_block_stops_at_the_header_limit(hostile: tuple[Run, LocalServer]) -> None:
    run, server = hostile
    url = server.url("/headers-huge")
    error = f"response header block larger than {MAX_HEADER} bytes (the header limit): not parsed"
    assert run.lines[url] == ("FAILED", error)
    group = run.group(url)
    assert group.response is not None
    assert group.response.block == RESPONSES["/headers-huge"][:MAX_HEADER]
    assert group.response.get("WARC-Truncated") == "length"
    assert group.meta["error"] == error
    assert group.meta["truncated"] == "length"


@pytest.mark.parametrize(("path", "error"), [
    ("/malformed-status", "malformed HTTP response: illegal status line: 'HTTP/1.1 OK-ish'"),
    ("/malformed-header",
     "malformed HTTP response: illegal header line: 'This line has no colon'"),
])
def test_malformed_response_is_recorded_as_received(
    hostile: tuple[Run, LocalServer], path: str, error: str,
) -> None:
    run, server = hostile
    url = server.url(path)
    assert run.lines[url] == ("FAILED", error)
    group = run.group(url)
    assert group.request is not None and group.response is not None
    assert group.response.block == RESPONSES[path]  # the bytes as sent: evidence
    assert group.response.get("WARC-Truncated") is None
    assert group.meta["error"] == error
    assert_digests(group.response)


def test_close_mid_response_marks_disconnect(hostile: tuple[Run, LocalServer]) -> None:
    run, server = hostile
    url = server.url("/close-mid")
    status, detail = run.lines[url]
    assert status == "200" and "truncated: disconnect" in detail
    group = run.group(url)
    assert group.response is not None and group.response.block == RESPONSES["/close-mid"]
    assert group.response.get("WARC-Truncated") == "disconnect"


def test_redirect_loop_is_recorded_once_and_stops(hostile: tuple[Run, LocalServer]) -> None:
    run, server = hostile
    url = server.url("/redirect-loop-a")
    assert run.lines[url] == ("FAILED", f"redirect loop at {url}")
    for path in ("/redirect-loop-a", "/redirect-loop-b"):
        group = run.group(server.url(path))
        assert group.response is not None and group.response.block == RESPONSES[path]
    assert [r.path for r in server.requests].count("/redirect-loop-a") == 1


def test_gzip_bombs_are_stored_as_sent_and_decoded_within_bounds(
    hostile: tuple[Run, LocalServer],
) -> None:
    run, server = hostile
    # not a page: stored as sent, never inflated
    plain = run.group(server.url("/gzip-bomb"))
    assert plain.response is not None and plain.response.block == gzip_bomb_response()
    # a page: parsed from at most 16 MiB of decoded bytes; its requisite is still found
    url = server.url("/bomb.html")
    status, detail = run.lines[url]
    assert status == "200"
    assert "page parsed in part (decoded to at most 16 MiB" in detail
    bomb = run.group(url)
    assert bomb.response is not None and bomb.response.block == html_bomb()
    assert bomb.response.get("WARC-Truncated") is None
    image = run.group(server.url("/image.png"))
    assert image.response is not None and image.response.http_payload == PNG_BODY
    assert run.lines[server.url("/image.png")][0] == "200"


def test_deeply_nested_page_is_captured_but_not_parsed(hostile: tuple[Run, LocalServer]) -> None:
    run, server = hostile
    url = server.url("/deep.html")
    status, detail = run.lines[url]
    assert status == "200"
    assert (f"page not parsed within {PARSE_TIMEOUT:g} s: its requisites and links were not "
            "followed") in detail
    group = run.group(url)
    assert group.response is not None and group.response.http_payload == DEEP_BODY
    assert "/never-seen.png" not in [r.path for r in server.requests]


def test_hostile_failures_are_in_the_custody_log(hostile: tuple[Run, LocalServer]) -> None:
    run, _ = hostile
    [failed] = [e for e in run.log() if e["action"] == "capture-failed"]
    details = failed["details"]
    assert isinstance(details, dict)
    logged = {f["url"]: f["error"] for f in details["failures"]}
    assert logged == {u: d for u, (s, d) in run.lines.items() if s == "FAILED"}


# -- TLS: never ignored unless asked, and then said ---------------------------------------------

BAD_CERTS = {
    "expired": ("certificate has expired", {"expired": True}),
    "self-signed": ("self-signed certificate", {"self_signed": True}),
    "wrong-host": ("IP address mismatch", {"wrong_host": True}),
}


@pytest.fixture(scope="module")
def bad_tls(test_ca: TestCA) -> Iterator[dict[str, LocalServer]]:
    servers = {name: LocalServer(tls=test_ca, leaf=test_ca.issue(**kind))  # type: ignore[arg-type]
               for name, (_, kind) in BAD_CERTS.items()}
    for server in servers.values():
        server.start()
    try:
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def test_bad_certificates_fail_with_exit_5(
    bad_tls: dict[str, LocalServer], test_ca: TestCA, tmp_path: Path,
) -> None:
    root = test_ca.write_root(tmp_path / "root.pem")
    urls = {name: s.url("/page.html") for name, s in bad_tls.items()}
    run = capture(tmp_path, "--ca-file", str(root), "--timeout", "5", "--retries", "0",
                  *urls.values())
    assert run.proc.returncode == EXIT_CAPTURE_FAILED
    assert f"{len(urls)} of {len(urls)} URLs could not be captured" in run.proc.stderr
    for name, url in urls.items():
        status, detail = run.lines[url]
        assert status == "FAILED"
        assert detail.startswith("TLS certificate rejected by 127.0.0.1: ")
        assert BAD_CERTS[name][0] in detail.replace("self signed", "self-signed")
        [group] = groups_for(run.groups, url)
        assert (group.request, group.response) == (None, None)  # nothing sent, nothing kept
        assert bad_tls[name].requests == []
    assert_verifies(run)


def test_insecure_skip_tls_verify_captures_and_says_so(
    bad_tls: dict[str, LocalServer], tmp_path: Path,
) -> None:
    for server in bad_tls.values():
        server.clear_requests()
    urls = [s.url("/page.html") for s in bad_tls.values()]
    run = capture(tmp_path, "--insecure-skip-tls-verify", "--timeout", "5", *urls)
    assert run.proc.returncode == 0, run.proc.stdout + run.proc.stderr
    for url in urls:
        assert run.lines[url][0] == "200"
        group = run.group(url)
        assert group.response is not None and group.response.block == RESPONSES["/page.html"]
        meta = group.meta
        assert meta["tls"]["verified"] is False
        assert "--insecure-skip-tls-verify" in meta["tlsVerification"]
        assert "--insecure-skip-tls-verify" in meta["tls"]["trustStore"]
    assert_verifies(run)


# -- a crawl without end, stopped by --total-timeout ---------------------------------------------


def capture_entry(run: Run) -> dict[str, object]:
    [entry] = [e for e in run.log() if e["action"] == "capture"]
    details = entry["details"]
    assert isinstance(details, dict)
    return details


def test_total_timeout_stops_an_endless_link_farm(http_server: LocalServer, tmp_path: Path) -> None:
    serve_hostile(http_server)
    seed = http_server.url("/farm/")
    run = capture(tmp_path, "--depth", "100", "--total-timeout", "2", seed, timeout=60)
    assert run.seconds < 20, run.seconds  # 2 s of crawling, then seal, index and log
    # the seed was captured; the links left by the limit the user set are not failures
    assert run.proc.returncode == 0, run.proc.stdout + run.proc.stderr
    assert run.lines[seed][0] == "200"
    unfetched = [u for u, (s, _) in run.lines.items() if s == "NOT FETCHED"]
    assert unfetched and all(u.startswith(seed) for u in unfetched)
    assert all("total time limit" in run.lines[u][1] for u in unfetched)
    assert "FAILED" not in {s for s, _ in run.lines.values()}
    assert f"{len(unfetched)} URLs the crawl found were not fetched" in run.proc.stderr
    fetched = [r.path for r in http_server.requests]
    assert len(fetched) == len(set(fetched)) > 10  # each page once, and many of them
    requested = {http_server.url(p) for p in fetched}
    assert not requested & {u for u in unfetched if "not fetched" in run.lines[u][1]}
    details = capture_entry(run)  # the URLs are listed up to 256 KiB, the rest counted
    listed = details["notFetchedUrls"]
    assert isinstance(listed, list) and set(listed) <= set(unfetched)
    assert details["notFetched"] == len(unfetched) == len(listed) + int(
        details.get("notFetchedNotListed", 0))  # type: ignore[call-overload]
    assert "capture-failed" not in {e["action"] for e in run.log()}
    assert_verifies(run)


def silent(ex: ServerExchange) -> None:
    """Reads the request and never answers (until the server stops)."""
    ex.close = True
    ex.sleep(60)


def test_total_timeout_records_the_fetch_in_flight(http_server: LocalServer,
                                                   tmp_path: Path) -> None:
    """One fetch at a time: /drip (a byte a second) is in flight when the total time limit
    comes, /page.html is still queued. What /drip sent is recorded with WARC-Truncated:
    time; the page, a seed that was never fetched, fails the capture (exit 5)."""
    serve_hostile(http_server)
    drip_url, page = http_server.url("/drip"), http_server.url("/page.html")
    run = capture(tmp_path, "--concurrency", "1", "--timeout", "30", "--total-timeout", "2.5",
                  drip_url, page)
    assert run.seconds < 20, run.seconds
    assert run.proc.returncode == EXIT_CAPTURE_FAILED, run.proc.stdout + run.proc.stderr
    status, detail = run.lines[drip_url]
    assert status == "200"
    assert detail.endswith("truncated: time (total time limit, --total-timeout)"), detail
    group = run.group(drip_url)
    assert group.request is not None and group.response is not None
    assert group.response.get("WARC-Truncated") == "time"
    assert 1 <= len(group.response.http_payload) <= 3
    assert set(group.response.http_payload) == {ord("x")}
    assert (group.meta["truncated"], group.meta["limit"]) == ("time", "--total-timeout")
    assert_digests(group.response)
    assert run.lines[page] == ("FAILED", "not fetched: total time limit reached")
    assert [r.path for r in http_server.requests] == ["/drip"]
    assert page not in {g.url for g in run.groups}  # never started: no record
    [failed] = [e for e in run.log() if e["action"] == "capture-failed"]
    assert failed["details"]["failures"] == [  # type: ignore[index]
        {"url": page, "error": "not fetched: total time limit reached"}]
    assert "notFetched" not in capture_entry(run)
    assert_verifies(run)


def test_total_timeout_leaves_found_urls_unfetched_without_failing(
    http_server: LocalServer, tmp_path: Path,
) -> None:
    """The seed links to /drip (a body that never ends in time), /silent (no answer at all)
    and five quick pages; two fetches at a time. At the limit /drip is kept as received,
    /silent has its request and a metadata record saying why, the quick pages are still
    queued: all listed, none a failure, since the seed was captured (exit 0)."""
    serve_hostile(http_server)
    http_server.add_route("/silent", silent)
    quick = [f"/page.html?{i}" for i in range(5)]
    links = "".join(f'<a href="{p}">{p}</a>' for p in ["/drip", "/silent", *quick])
    http_server.add_route("/start", response(b"200 OK", [(b"Content-Type", b"text/html")],
                                             f"<html><body>{links}</body></html>".encode()))
    seed = http_server.url("/start")
    run = capture(tmp_path, "--depth", "1", "--concurrency", "2", "--timeout", "30",
                  "--total-timeout", "3", seed)
    assert run.seconds < 20, run.seconds
    assert run.proc.returncode == 0, run.proc.stdout + run.proc.stderr
    assert run.lines[seed][0] == "200"
    drip_url, silent_url = http_server.url("/drip"), http_server.url("/silent")
    assert run.lines[drip_url][0] == "200"
    assert "truncated: time (total time limit" in run.lines[drip_url][1]
    error = "no complete response header before the total time limit (--total-timeout)"
    assert run.lines[silent_url] == ("NOT FETCHED", error)
    group = run.group(silent_url)
    assert group.request is not None and group.response is None
    assert (group.meta["error"], group.meta["limit"]) == (error, "--total-timeout")
    queued = [http_server.url(p) for p in quick]
    assert {u: run.lines[u] for u in queued} == dict.fromkeys(
        queued, ("NOT FETCHED", "not fetched: total time limit reached"))
    details = capture_entry(run)
    assert details["failed"] == 0 and details["notFetched"] == 6
    assert set(details["notFetchedUrls"]) == {silent_url, *queued}  # type: ignore[arg-type]
    assert "capture-failed" not in {e["action"] for e in run.log()}
    assert "6 URLs the crawl found were not fetched" in run.proc.stderr
    assert_verifies(run)


# -- memory: a large body streams through -------------------------------------------------------

LARGE = 200_000_000
MAX_RSS_MB = 150
# VmHWM of the prov process itself, written when it exits. Not wait4's ru_maxrss: Linux folds
# the pre-exec address space's high-water mark into it, so a child forked from a large pytest
# process (the whole suite) would report pytest's size, not prov's.
HWM_MAIN = (
    "import atexit, os\n"
    "def _hwm():\n"
    "    with open('/proc/self/status') as fh:\n"
    "        line = next(x for x in fh if x.startswith('VmHWM:'))\n"
    "    with open(os.environ['PROV_TEST_HWM'], 'w') as out:\n"
    "        out.write(line.split()[1])\n"
    "atexit.register(_hwm)\n"
) + PROV_MAIN


def test_large_response_is_captured_in_bounded_memory(
    http_server: LocalServer, tmp_path: Path,
) -> None:
    """200 MB streamed (the 1 GB figure is in docs/BENCHMARKS.md): the peak RSS of the prov
    process (its own VmHWM) stays far below the body's size."""
    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    hwm_path = tmp_path / "hwm.kb"
    env["PROV_TEST_HWM"] = str(hwm_path)
    url = http_server.url(f"/big?size={LARGE}")
    out_path = tmp_path / "summary.json"
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", HWM_MAIN, "snapshot", "--case", str(case), "--json", url],
            env=env, stdout=out, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        err = proc.stderr.read()  # little: a prov that fails says so in one line
        _, status, _usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stderr.close()
    assert proc.returncode == 0, err.decode()
    peak_mb = int(hwm_path.read_text()) / 1024
    assert peak_mb < MAX_RSS_MB, f"peak RSS {peak_mb:.0f} MB for a {LARGE / 1e6:g} MB body"
    summary = json.loads(out_path.read_text())
    [row] = summary["urls"]
    assert (row["status"], row["truncated"], row["error"]) == (200, None, None)
    assert row["bytes"] == len(big_head(LARGE)) + LARGE
    verify = run_prov("verify", str(case), "--trust", str(key_pub), env=env, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
