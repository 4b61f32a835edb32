"""The crawl frontier (issue 5, items 1-3, 5, 6): requisites, depth and scope, each URL once,
keep-alive, per-host limits and delay, retries and Retry-After, proxies, progress, rollover
and the CDXJ index.

Everything runs the real `prov snapshot` against `servers.LocalServer` on 127.0.0.1 and counts
what the server saw (its request log: path, Host header, connection, arrival time). Names
under ``.test`` are resolved to 127.0.0.1 inside the prov process (no DNS), so ``--scope
domain`` can be tried with real subdomains.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import free_port, make_case, prov_env, run_prov
from proxies import ConnectProxy, Proxy, Socks5Proxy
from servers import PAGE_BODY, LocalServer, response
from servers import Exchange as ServerExchange
from test_snapshot import (
    EXIT_CAPTURE_FAILED,
    Rec,
    assert_peer_checks,
    capture_warcs,
    exchanges,
    groups_for,
    read_records,
)

from archive.http.crawl import CaptureOptions, Capturer, retry_after
from archive.http.recorder import Exchange
from archive.warc.writer import Block, Record, WarcWriter

# prov with a resolver for *.test names (127.0.0.1), so that scopes see real host names
PROV_MAIN_NAMES = """
import socket
_real = socket.getaddrinfo
def _resolve(host, port, *args, **kwargs):
    if str(host).endswith(".test"):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
    return _real(host, port, *args, **kwargs)
socket.getaddrinfo = _resolve
from provenance.cli import main
main()
"""


@dataclass
class Run:
    proc: subprocess.CompletedProcess[str]
    case: Path
    key_pub: Path
    env: dict[str, str]
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def capture_dir(self) -> str:
        return str(self.summary["captureDir"])

    @property
    def warcs(self) -> list[Path]:
        return capture_warcs(self.case, self.capture_dir)

    @property
    def records(self) -> list[Rec]:
        return [r for w in self.warcs for r in read_records(w)]

    def row(self, url: str) -> dict[str, Any]:
        [row] = [u for u in self.summary["urls"] if u["url"] == url]
        return row

    def verify(self) -> None:
        for warc in self.warcs:
            assert_peer_checks(warc)
        proc = run_prov("verify", str(self.case), "--trust", str(self.key_pub), env=self.env)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def snapshot(tmp: Path, *args: str, json_out: bool = True, names: bool = False) -> Run:
    """`prov snapshot [--json] ARGS` in a new case under ``tmp``."""
    case, key_pub = make_case(tmp)
    env = prov_env(tmp)
    main = PROV_MAIN_NAMES if names else "from provenance.cli import main; main()"
    command = [sys.executable, "-c", main, "snapshot", "--case", str(case),
               *(["--json"] if json_out else []), *args]
    start = time.monotonic()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    seconds = time.monotonic() - start
    assert "Traceback" not in proc.stderr, proc.stderr
    run = Run(proc, case, key_pub, env, seconds)
    if json_out:
        assert proc.stdout, proc.stderr
        run.summary = json.loads(proc.stdout)
    return run


def static(content_type: bytes, body: bytes) -> bytes:
    return response(b"200 OK", [(b"Content-Type", content_type)], body)


def html(body: str) -> bytes:
    return static(b"text/html; charset=utf-8", f"<!DOCTYPE html><html>{body}</html>".encode())


def paths(server: LocalServer) -> Counter[str]:
    return Counter(r.path for r in server.requests)


# -- requisites ---------------------------------------------------------------------------------

REQUISITE_PAGE = """<head>
<link rel="stylesheet" href="/req/a.css"><link rel="icon" href="/req/icon.png">
<link rel="stylesheet" href="a.css#again">
<script src="/req/app.js"></script>
<style>@import "/req/b.css"; .x { background: url('/req/img.png') }</style>
</head><body>
<img src="/req/img.png" srcset="/req/img-1x.png 1x, img-2x.png 2x">
<img src="img.png">
<picture><source srcset="/req/pic.webp 800w"><img src="/req/img.png"></picture>
<video poster="/req/poster.jpg"><source src="/req/clip.mp4"></video>
<div style="background-image: url(/req/bg.png)"></div>
<a href="/req/not-followed.html">a link, not a requisite</a>
</body>"""

STYLESHEETS = {
    # relative URLs resolve against the stylesheet; c.css points back at a.css (a cycle)
    "/req/a.css": b'@import url("c.css");\nbody { background: url(bg.png) }\n'
                  b'@font-face { font-family: f; src: url(/req/font.woff2) format("woff2") }\n',
    "/req/b.css": b'.y { background: url("/req/b-bg.png") }\n',
    "/req/c.css": b'.z { background: url(/req/a.css) } .w { background: url(c-bg.png) }\n',
}
REQUISITES = {
    "/req/a.css", "/req/b.css", "/req/c.css", "/req/icon.png", "/req/app.js", "/req/img.png",
    "/req/img-1x.png", "/req/img-2x.png", "/req/pic.webp", "/req/poster.jpg", "/req/clip.mp4",
    "/req/bg.png", "/req/font.woff2", "/req/b-bg.png", "/req/c-bg.png",
}


def serve_requisites(server: LocalServer) -> None:
    server.add_route("/req/page.html", html(REQUISITE_PAGE))
    for path in REQUISITES - set(STYLESHEETS):
        server.add_route(path, static(b"application/octet-stream", path.encode()))
    for path, body in STYLESHEETS.items():
        server.add_route(path, static(b"text/css", body))


@pytest.fixture(scope="module")
def requisites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Run, LocalServer]]:
    with LocalServer() as server:
        serve_requisites(server)
        run = snapshot(tmp_path_factory.mktemp("requisites"), "--requisites",
                       server.url("/req/page.html"), json_out=False)
        yield run, server


def test_requisites_are_each_fetched_once(requisites: tuple[Run, LocalServer]) -> None:
    run, server = requisites
    assert run.proc.returncode == 0, run.proc.stdout + run.proc.stderr
    assert paths(server) == Counter({"/req/page.html": 1, **dict.fromkeys(REQUISITES, 1)})


def test_progress_is_one_line_per_url_when_not_a_terminal(
    requisites: tuple[Run, LocalServer],
) -> None:
    run, server = requisites
    lines = run.proc.stdout.splitlines()
    assert lines[-1].startswith("capture ") and " sealed in captures/" in lines[-1]
    rows = [line.split("\t") for line in lines[:-1]]
    assert all(len(r) == 3 and r[0] == "200" for r in rows), lines
    urls = [r[1] for r in rows]
    assert urls.count(server.url("/req/page.html")) == 1
    assert sorted(urls) == sorted([server.url("/req/page.html")]
                                  + [server.url(p) + " (requisite)" for p in REQUISITES])
    assert all(" bytes, 3 records, " in r[2] for r in rows)
    assert run.proc.stderr == ""  # no live display: stderr is not a terminal


def test_keep_alive_carries_several_requests_per_connection(
    requisites: tuple[Run, LocalServer],
) -> None:
    _, server = requisites
    per_connection = Counter(r.connection for r in server.requests)
    assert len(per_connection) <= 4  # --per-host 4 by default
    assert max(per_connection.values()) >= 3
    assert sum(per_connection.values()) == len(REQUISITES) + 1


# -- depth, scope, include/exclude ----------------------------------------------------------------

LINK_PAGES = {
    "/d/a/index.html": ["/d/a/one.html", "/d/b/two.html", "HOST/d/a/host.html",
                        "/d/a/skip-me.html", "/d/a/index.html#self"],
    "/d/a/one.html": ["/d/a/deep.html", "/d/b/two.html", "/d/a/index.html"],
    "/d/b/two.html": ["/d/b/three.html"],
    "/d/a/deep.html": ["/d/a/deeper.html"],
    "/d/a/skip-me.html": [],
    "/d/b/three.html": [],
    "/d/a/host.html": [],
    "/d/a/deeper.html": [],
}


def serve_links(server: LocalServer) -> None:
    other = server.url("", host="localhost")  # another host name for the same server
    for path, targets in LINK_PAGES.items():
        anchors = "".join(f'<a href="{t.replace("HOST", other)}">x</a>' for t in targets)
        server.add_route(path, html(f"<body>{anchors}</body>"))


@pytest.mark.parametrize(("args", "expected"), [
    (("--depth", "1"), {"/d/a/index.html", "/d/a/one.html", "/d/b/two.html",
                        "/d/a/skip-me.html"}),
    (("--depth", "2"), {"/d/a/index.html", "/d/a/one.html", "/d/b/two.html",
                        "/d/a/skip-me.html", "/d/a/deep.html", "/d/b/three.html"}),
    (("--depth", "2", "--scope", "prefix"), {"/d/a/index.html", "/d/a/one.html",
                                             "/d/a/skip-me.html", "/d/a/deep.html"}),
    (("--depth", "3", "--include", "/d/a/", "--exclude", "skip-me|deeper"),
     {"/d/a/index.html", "/d/a/one.html", "/d/a/deep.html"}),
], ids=["depth1-host", "depth2-host", "depth2-prefix", "include-exclude"])
def test_depth_and_scope(
    http_server: LocalServer, tmp_path: Path, args: tuple[str, ...], expected: set[str],
) -> None:
    serve_links(http_server)
    run = snapshot(tmp_path, *args, http_server.url("/d/a/index.html"))
    assert run.proc.returncode == 0, run.proc.stdout + run.proc.stderr
    seen = paths(http_server)
    assert set(seen) == expected
    assert set(seen.values()) == {1}  # each URL once per capture
    assert {r.header("Host") for r in http_server.requests} == {f"127.0.0.1:{http_server.port}"}
    kinds = {u["url"]: u["kind"] for u in run.summary["urls"]}
    assert kinds.pop(http_server.url("/d/a/index.html")) == "seed"
    assert set(kinds.values()) == {"link"}
    assert len(run.summary["urls"]) == len(expected)


def test_domain_scope_follows_subdomains_only(http_server: LocalServer, tmp_path: Path) -> None:
    port = http_server.port
    hosts = ["sub.site.test", "site.test", "deep.sub.site.test", "other.test", "notsite.test"]
    anchors = "".join(f'<a href="http://{h}:{port}/dom/page.html">{h}</a>' for h in hosts)
    http_server.add_route("/dom/index.html", html(f"<body>{anchors}</body>"))
    http_server.add_route("/dom/page.html", html("<body>leaf</body>"))
    seed = f"http://www.site.test:{port}/dom/index.html"
    run = snapshot(tmp_path, "--depth", "1", "--scope", "domain", seed, names=True)
    assert run.proc.returncode == 0, run.proc.stdout + run.proc.stderr
    seen = Counter((r.header("Host"), r.path) for r in http_server.requests)
    assert seen == Counter({(f"www.site.test:{port}", "/dom/index.html"): 1,
                            (f"sub.site.test:{port}", "/dom/page.html"): 1,
                            (f"site.test:{port}", "/dom/page.html"): 1,
                            (f"deep.sub.site.test:{port}", "/dom/page.html"): 1})
    # the same links with --scope host: none of the other names
    http_server.clear_requests()
    (tmp_path / "host").mkdir()
    run = snapshot(tmp_path / "host", "--depth", "1", seed, names=True)
    assert [r.path for r in http_server.requests] == ["/dom/index.html"]


# -- politeness: per-host limit, delay ------------------------------------------------------------


class InFlight:
    """A route that takes ``seconds`` and records how many requests were in flight at once,
    and when each arrived."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.arrivals: list[float] = []

    def __call__(self, ex: ServerExchange) -> bytes:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.arrivals.append(time.monotonic())
        ex.sleep(self.seconds)
        with self.lock:
            self.now -= 1
        return static(b"text/plain", b"ok")


def test_per_host_limit_is_respected(http_server: LocalServer, tmp_path: Path) -> None:
    route = InFlight(0.3)
    http_server.add_route("/wait", route)
    urls = [http_server.url(f"/wait?n={i}") for i in range(8)]
    run = snapshot(tmp_path, "--per-host", "2", "--concurrency", "8", *urls)
    assert run.proc.returncode == 0, run.proc.stderr
    assert route.peak == 2
    assert len(route.arrivals) == 8


def test_delay_spaces_requests_to_one_host(http_server: LocalServer, tmp_path: Path) -> None:
    route = InFlight(0.0)
    http_server.add_route("/wait", route)
    urls = [http_server.url(f"/wait?n={i}") for i in range(4)]
    run = snapshot(tmp_path, "--delay", "0.4", "--per-host", "4", *urls)
    assert run.proc.returncode == 0, run.proc.stderr
    gaps = [b - a for a, b in zip(route.arrivals, route.arrivals[1:], strict=False)]
    assert len(gaps) == 3 and min(gaps) >= 0.35, gaps


# -- retries and failures ------------------------------------------------------------------------


class Script:
    """A route that answers its n-th request with ``answers[n]`` (the last one repeats):
    bytes, or "reset" for a TCP reset before any response."""

    def __init__(self, *answers: bytes | str) -> None:
        self.answers = answers
        self.arrivals: list[float] = []

    def __call__(self, ex: ServerExchange) -> bytes | None:
        self.arrivals.append(time.monotonic())
        answer = self.answers[min(len(self.arrivals), len(self.answers)) - 1]
        if answer == "reset":
            reset(ex)
            return None
        assert isinstance(answer, bytes)
        return answer


def reset(ex: ServerExchange) -> None:
    import struct

    ex.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    socket.socket.close(ex.sock)  # an RST, not a FIN: the server's own close then fails quietly
    ex.close = True


UNAVAILABLE = response(b"503 Service Unavailable", [(b"Retry-After", b"0")], b"busy")
UNAVAILABLE_1S = response(b"503 Service Unavailable", [(b"Retry-After", b"1")], b"busy")
OK = static(b"text/html", PAGE_BODY)


def test_retries_then_success_and_failure_is_evidence(
    http_server: LocalServer, tmp_path: Path,
) -> None:
    scripts = {
        "/flaky": Script(UNAVAILABLE, UNAVAILABLE, OK),
        "/reset-once": Script("reset", OK),
        "/retry-after": Script(UNAVAILABLE_1S, OK),
        "/always-reset": Script("reset"),
    }
    for path, script in scripts.items():
        http_server.add_route(path, script)
    urls = {p: http_server.url(p) for p in scripts}
    run = snapshot(tmp_path, "--retries", "2", *urls.values())
    assert run.proc.returncode == EXIT_CAPTURE_FAILED, run.proc.stdout + run.proc.stderr
    flaky = run.row(urls["/flaky"])
    assert (flaky["status"], flaky["attempts"], flaky["error"]) == (200, 3, None)
    # every answer is evidence: both 503s and the 200
    statuses = [g.response.block.split(b"\r\n", 1)[0] for g in groups_for(
        exchanges(run.records), urls["/flaky"]) if g.response is not None]
    assert statuses == [b"HTTP/1.1 503 Service Unavailable"] * 2 + [b"HTTP/1.1 200 OK"]
    once = run.row(urls["/reset-once"])
    assert (once["status"], once["attempts"], once["error"]) == (200, 2, None)
    waited = scripts["/retry-after"].arrivals
    assert run.row(urls["/retry-after"])["status"] == 200
    assert 0.95 <= waited[1] - waited[0] < 5, waited  # Retry-After: 1 honoured
    failed = run.row(urls["/always-reset"])
    assert failed["status"] is None and failed["attempts"] == 3
    assert failed["error"].startswith("connection ")
    # three attempts; one on a kept-alive connection that the server reset is retried once
    # on a new connection by the recorder (RFC 9112 section 9.3.1), unrecorded
    assert 3 <= len(scripts["/always-reset"].arrivals) <= 6
    # the failure: in the summary, on stderr, in the custody log, and in the WARC
    assert "1 of 4 URLs could not be captured" in run.proc.stderr
    entries = json.loads(run_prov("log", "show", "--case", str(run.case), "--json",
                                  env=run.env).stdout)
    [logged] = [e for e in entries if e["action"] == "capture-failed"]
    assert logged["details"]["failures"] == [{"url": urls["/always-reset"],
                                              "error": failed["error"]}]
    [last] = groups_for(exchanges(run.records), urls["/always-reset"])
    assert last.meta["error"] == failed["error"]
    run.verify()


def exchange_with(retry_value: bytes | None) -> Exchange:
    ex = Exchange(url="http://example.test/", started_at=datetime.now(UTC), status=503)
    if retry_value is not None:
        ex.headers = [(b"Retry-After", retry_value)]
    return ex


@pytest.mark.parametrize(("value", "attempt", "expected"), [
    (b"2", 0, 2.0),
    (b"3600", 0, 30.0),  # bounded by the cap
    (b"-5", 0, 0.5),  # not a number of seconds: exponential backoff instead
    (None, 0, 0.5),
    (None, 3, 4.0),
    (None, 10, 30.0),
    (b"Thu, 01 Jan 1970 00:00:00 GMT", 0, 0.0),  # a date in the past: at once
])
def test_retry_after_is_honoured_and_bounded(
    value: bytes | None, attempt: int, expected: float,
) -> None:
    assert retry_after(exchange_with(value), attempt, 30.0) == pytest.approx(expected)


def test_retry_after_far_in_the_future_waits_only_the_cap(
    http_server: LocalServer, tmp_path: Path,
) -> None:
    """The library's bound (``max_retry_wait``), on a real server saying wait an hour."""
    script = Script(response(b"429 Too Many Requests", [(b"Retry-After", b"3600")]), OK)
    http_server.add_route("/busy", script)

    def warcinfo(name: str) -> Record:
        return Record("warcinfo", "<urn:uuid:0>", datetime.now(UTC), Block.of(b"x: y\r\n"),
                      [("WARC-Filename", name)], content_type="application/warc-fields",
                      with_payload_digest=False)

    writer = WarcWriter(tmp_path, warcinfo=warcinfo)
    capturer = Capturer(writer, CaptureOptions(max_retry_wait=0.5),
                        now=lambda: datetime.now(UTC))
    [outcome] = asyncio.run(capturer.capture([http_server.url("/busy")]))
    writer.close()
    assert (outcome.final.status if outcome.final else None, outcome.attempts) == (200, 2)
    assert 0.45 <= script.arrivals[1] - script.arrivals[0] < 3


# -- proxies -------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [ConnectProxy, Socks5Proxy], ids=["connect", "socks5"])
def test_via_proxy_is_recorded(
    make: type[Proxy], http_server: LocalServer, tmp_path: Path,
) -> None:
    with make() as proxy:
        via = proxy.url()
        run = snapshot(tmp_path, "--via", via, http_server.url("/page.html"))
        assert [(t.host, t.port) for t in proxy.targets] == [("127.0.0.1", http_server.port)]
    assert run.proc.returncode == 0, run.proc.stderr
    records = run.records
    [info] = [r for r in records if r.type == "warcinfo"]
    assert f"prov-via: {via}".encode() in info.block
    [group] = groups_for(exchanges(records), http_server.url("/page.html"))
    assert group.meta["proxy"] == via
    assert group.response is not None and group.response.http_payload == PAGE_BODY
    run.verify()


# -- quiet and json ----------------------------------------------------------------------------


def test_quiet_prints_nothing_on_success(http_server: LocalServer, tmp_path: Path) -> None:
    run = snapshot(tmp_path, "--quiet", http_server.url("/page.html"), json_out=False)
    assert (run.proc.returncode, run.proc.stdout, run.proc.stderr) == (0, "", "")


def test_json_summary(http_server: LocalServer, tmp_path: Path) -> None:
    url = http_server.url("/redirect")
    run = snapshot(tmp_path, url)
    assert run.proc.returncode == 0 and run.proc.stderr == ""
    assert set(run.summary) == {"captureId", "captureDir", "urls", "unstamped"}
    assert run.summary["unstamped"] == []  # no TSA was asked, so none failed
    [row] = run.summary["urls"]
    assert row["url"] == url and row["finalUrl"] == http_server.url("/page.html")
    assert (row["status"], row["records"], row["attempts"], row["kind"]) == (200, 6, 1, "seed")
    assert row["bytes"] > len(PAGE_BODY) and row["seconds"] >= 0
    assert row["hops"] == [url, http_server.url("/page.html")]


# -- rollover and the CDXJ index -------------------------------------------------------------------


def test_rollover_keeps_exchanges_whole_and_the_index_reads_back(
    http_server: LocalServer, tmp_path: Path,
) -> None:
    serve_requisites(http_server)
    for i in range(6):  # incompressible: each exchange is bigger than --warc-size
        http_server.add_route(f"/noise/{i}", static(b"application/octet-stream",
                                                    os.urandom(30000)))
    urls = [http_server.url("/req/page.html"), *(http_server.url(f"/noise/{i}")
                                                  for i in range(6))]
    run = snapshot(tmp_path, "--requisites", "--warc-size", "20000", *urls)
    assert run.proc.returncode == 0, run.proc.stderr
    warcs = run.warcs
    assert [w.name for w in warcs] == [f"data-{i:05d}.warc.gz" for i in range(len(warcs))]
    assert len(warcs) >= 4
    responses: dict[str, tuple[str, str]] = {}
    for warc in warcs:
        records = read_records(warc)
        assert records[0].type == "warcinfo"
        assert records[0].get("WARC-Filename") == warc.name
        # every request/response has its partners in the same file (exchanges() checks it)
        for group in exchanges(records):
            if group.response is not None:
                responses[group.response.id] = (warc.name, group.url)
    assert len(responses) == len(urls) + len(REQUISITES)
    index = (run.case / run.capture_dir / "index.cdxj").read_text().splitlines()
    assert index == sorted(index)
    found: dict[str, tuple[str, str]] = {}
    for line in index:
        _surt, _stamp, doc = line.split(" ", 2)
        entry = json.loads(doc)
        with open(run.case / run.capture_dir / entry["filename"], "rb") as fh:
            fh.seek(int(entry["offset"]))
            member = gzip.decompress(fh.read(int(entry["length"])))
        head = member.split(b"\r\n\r\n", 1)[0].decode()
        fields = dict(line.split(": ", 1) for line in head.split("\r\n")[1:])
        assert member.startswith(b"WARC/1.1\r\n")
        assert fields["WARC-Target-URI"] == entry["url"]
        if fields["WARC-Type"] == "response":
            found[fields["WARC-Record-ID"]] = (entry["filename"], entry["url"])
    assert found == responses
    run.verify()


def test_the_index_built_while_writing_equals_the_index_read_back(
    http_server: LocalServer, tmp_path: Path,
) -> None:
    """The capture's index.cdxj, made from what the writer knew as it wrote each record, is
    byte for byte the index `write_index` reads back from the finished WARCs: on a crawl with
    requisites, links, a 404, a redirect, a cut response, a refused connection, revisits of a
    second capture, and records spread over many files."""
    from archive.warc.cdxj import index_lines, iter_entries
    from provenance import api
    from provenance.base import timefmt
    from provenance.capture import snapshot as capture_mod
    from provenance.capture.dedup import DedupIndex
    from provenance.signing.keys import SigningKey

    serve_requisites(http_server)
    links = "".join(f'<a href="/noise/{i}">{i}</a>' for i in range(4))
    http_server.add_route("/start", html(f'<a href="/req/page.html">page</a>{links}'
                                         '<a href="/404">gone</a><a href="/redirect">r</a>'
                                         '<a href="/close-mid">cut</a>'))
    for i in range(4):  # new and incompressible each time: bigger than the WARC size limit
        http_server.add_route(f"/noise/{i}", lambda _: static(b"application/octet-stream",
                                                              os.urandom(30000)))
    refused = f"http://127.0.0.1:{free_port()}/"  # a port with nothing listening
    key = SigningKey.generate("index-test")
    case = api.init_case(tmp_path / "case", "t", key, timefmt.utc_now())
    options = api.capture_options(requisites=True, depth=1, retries=0)
    dedup = DedupIndex.load(case)
    for round_ in range(2):
        result = capture_mod.snapshot(case, [http_server.url("/start"), refused], key, options,
                                      warc_size=20000, dedup=dedup)
        folder = case.root / result.capture_dir
        assert len(result.files) >= 4
        read_back = index_lines(e for f in result.files for e in iter_entries(folder / f.name))
        built = (folder / capture_mod.INDEX_NAME).read_bytes()
        assert built == b"".join(read_back)
        kinds = Counter(json.loads(line.split(b" ", 2)[2])["mime"] for line in read_back)
        if round_:
            assert kinds["warc/revisit"] >= len(REQUISITES) + 4
        assert len(read_back) > len(REQUISITES) + 4
        dedup.catch_up()
