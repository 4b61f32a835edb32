"""Browser capture, offline: Debian's Chromium behind prov's recording proxy, against a local
HTTPS single-page app (`browsersite`: fetch(), an infinite list, lazy images, a redirect).

Browser tests skip only when /usr/bin/chromium is absent (CI installs it). Every test runs
with a fresh tag in its environment, which Chromium, its helpers and Playwright's driver
inherit; afterwards no live process may carry it (browser and proxy always shut down).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import resource
import signal
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import browsersite
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from PIL import Image
from servers import LocalServer, redirect_response
from test_snapshot import (
    Rec,
    assert_case_verifies,
    assert_peer_checks,
    exchanges,
    read_records,
    snapshot,
)
from testca import TestCA

from archive.browser.capture import BrowserCapturer, BrowserOptions, url_key
from archive.browser.page import PageLimits
from archive.http import recorder, tls
from archive.http.addresses import AddressPolicy
from archive.http.crawl import CaptureOptions, UrlOutcome
from archive.http.mitmca import RunAuthority
from archive.http.proxy import RecordingProxy
from archive.warc.writer import WarcWriter
from provenance.capture.snapshot import warcinfo_factory

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason="browser capture needs Debian's chromium at /usr/bin/chromium (apt-get install "
           "chromium; scripts/test installs it)")
TAG = "PROV_TEST_BROWSER_TAG"
FAST = ("--scroll-steps", "6", "--page-timeout", "20")


def now() -> datetime:
    return datetime.now(UTC)


# -- no process left behind -----------------------------------------------------------------


def tagged_processes(tag: str) -> dict[int, str]:
    """Live processes whose environment carries ``TAG=tag`` (zombies have none)."""
    needle = f"{TAG}={tag}".encode()
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0"):
                found[int(proc.name)] = (proc / "cmdline").read_bytes()[:120].decode(
                    "utf-8", "replace")
        except OSError:
            continue
    return found


@pytest.fixture(autouse=True)
def process_tag(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    tag = uuid.uuid4().hex
    monkeypatch.setenv(TAG, tag)
    yield tag
    deadline = time.monotonic() + 10
    while (left := tagged_processes(tag)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:  # started by this test: clean up before failing it
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left behind: {left}"


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(test_ca: TestCA) -> Iterator[LocalServer]:
    with LocalServer(tls=test_ca) as server:
        yield browsersite.install(server)


@pytest.fixture(scope="module")
def root_pem(test_ca: TestCA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return test_ca.write_root(tmp_path_factory.mktemp("ca") / "root.pem")


def by_uri(records: list[Rec], warc_type: str, uri: str) -> Rec:
    found = [r for r in records if r.type == warc_type and r.get("WARC-Target-URI") == uri]
    assert len(found) == 1, f"{len(found)} {warc_type} records for {uri}"
    return found[0]


def png(rec: Rec) -> Image.Image:
    image = Image.open(io.BytesIO(rec.block))
    image.load()  # a truncated or corrupt PNG fails here
    return image


def capture_pages(tmp: Path, seeds: list[str], *, root: Path | None = None,
                  limits: PageLimits | None = None, concurrency: int = 1,
                  executable: str = str(CHROMIUM),
                  on_progress: Callable[[UrlOutcome, dict[str, int]], None] | None = None,
                  total_timeout: float | None = None,
                  ) -> tuple[list[UrlOutcome], list[Rec], float]:
    """archive.browser.capture on its own, into one WARC file: outcomes, records, seconds."""
    writer = WarcWriter(tmp, warcinfo=warcinfo_factory("test", now))
    capturer = BrowserCapturer(
        writer, CaptureOptions(ca_file=root, limits=recorder.FetchLimits(timeout=10),
                               total_timeout=total_timeout),
        BrowserOptions(page=limits or PageLimits(timeout=10, scroll_steps=2,
                                                 artifact_timeout=10),
                       concurrency=concurrency, executable=executable),
        capture_id="test", now=now, on_progress=on_progress)
    start = time.monotonic()
    outcomes = asyncio.run(capturer.capture(seeds))
    seconds = time.monotonic() - start
    [warc] = writer.close()
    return outcomes, read_records(tmp / warc.name), seconds


# -- the app, end to end --------------------------------------------------------------------


@needs_chromium
def test_browser_snapshot_of_the_app(tmp_path: Path, site: LocalServer, root_pem: Path) -> None:
    start = site.url("/")
    snap = snapshot(tmp_path, "--browser", "--ca-file", str(root_pem), *FAST, start)
    assert snap.proc.returncode == 0, snap.proc.stderr
    [row] = snap.summary["urls"]
    assert row["hops"] == [start, site.url("/app")] and row["status"] == 200
    records = snap.records
    groups = {g.url: g for g in exchanges(records)}
    # the redirect, the document, its requisites, fetch()/XHR, lazy and JS-lazy images,
    # and the infinite list's first page: every one a response from the origin
    for path in ("/", "/app", "/static/app.js", "/static/app.css", "/api/content",
                 "/api/items?page=0", "/img/lazy-1.png", "/img/lazy-2.png",
                 "/img/js-lazy-1.png"):
        group = groups[site.url(path)]
        assert group.response is not None, path
        assert group.response.get("WARC-IP-Address") == "127.0.0.1"
        assert group.meta["tls"]["verified"] is True
        assert group.meta["tls"]["chainSent"], "the origin's chain, not the proxy's"
    assert groups[start].response is not None
    assert groups[start].response.block.startswith(b"HTTP/1.1 302 ")
    content = groups[site.url("/api/content")].response
    assert content is not None and browsersite.CONTENT_TEXT.encode() in content.block
    # the browser's own request, as sent on to the origin (no proxy headers)
    request = groups[site.url("/app")].request
    assert request is not None and b"Chrome/" in request.block
    assert b"proxy-connection" not in request.block.lower()
    # nothing but the site: no favicon the page did not ask for, none of Chromium's chatter
    uris = {r.get("WARC-Target-URI") for r in records if r.type in ("request", "response")}
    assert all(u and u.startswith(site.origin()) for u in uris), uris
    assert site.url("/favicon.ico") not in uris
    _check_page_records(records, start)
    for warc in snap.warcs:
        assert_peer_checks(warc)
    assert_case_verifies(snap)


def _check_page_records(records: list[Rec], url: str) -> None:
    resources = [r for r in records if r.type in ("resource", "metadata")
                 and r.headers["WARC-Target-URI"].endswith(f":{url}")
                 and r.headers["WARC-Target-URI"].startswith("urn:")]
    kinds = [r.headers["WARC-Target-URI"].split(":")[1] for r in resources]
    assert kinds == ["dom", "fullPage", "view", "fullPageBanner", "pageinfo"]
    dom, full, view, banner, info_rec = resources
    info = info_rec.json()
    assert info["title"] == "prov test app" and info["finalUrl"].endswith("/app")
    assert dom.get("Content-Type") == "text/html; charset=utf-8"
    assert browsersite.CONTENT_TEXT.encode() in dom.block and b"item 0" in dom.block
    assert b'src="/img/js-lazy-1.png"' in dom.block
    full_png, view_png, banner_png = png(full), png(view), png(banner)
    assert full_png.size == (info["pageSize"]["width"], info["pageSize"]["height"])
    assert full_png.height > 3000  # the whole page, not the first screen
    assert view_png.size == PageLimits().viewport
    assert banner.get("WARC-Concurrent-To") == full.id == info["records"]["fullPage"]
    strip = info["banner"]["bannerHeight"]
    assert banner_png.size == (full_png.width, strip + full_png.height)
    page_area = banner_png.convert("RGB").crop((0, strip, full_png.width, banner_png.height))
    assert page_area.tobytes() == full_png.convert("RGB").tobytes(), "page pixels changed"
    colours = banner_png.convert("RGB").crop((0, 0, full_png.width, strip)).getcolors(1 << 16)
    assert colours is not None and len(colours) > 2, "banner strip is blank"
    text = sum(n for n, c in colours if c != (32, 32, 32))
    assert text > 500, "banner strip holds (almost) no text"
    # the banner names the URL shown (the redirect's target) and how it was reached
    shown = info["finalUrl"]
    assert info["banner"]["fields"][:2] == [f"URL: {shown}",
                                            f"Reached: {url} → {shown} (redirect)"]
    assert info["chain"] == {"steps": [{"url": url, "how": "requested"},
                                       {"url": shown, "how": "redirect"}],
                             "after": [], "more": 0}
    assert info["notKept"] == []
    assert info["actions"][0].startswith("navigated")


@needs_chromium
def test_storage_state_cookies_are_sent_and_recorded(tmp_path: Path, site: LocalServer,
                                                     root_pem: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"cookies": [{
        "name": "session", "value": "s3cret", "domain": "127.0.0.1", "path": "/",
        "expires": -1, "httpOnly": True, "secure": True, "sameSite": "Lax"}], "origins": []}))
    url = site.url("/cookie")
    snap = snapshot(tmp_path, "--browser", "--storage-state", str(state), "--ca-file",
                    str(root_pem), *FAST, url)
    assert snap.proc.returncode == 0, snap.proc.stderr
    request = by_uri(snap.records, "request", url)
    assert b"Cookie: session=s3cret" in request.block  # for good: see docs/FORMATS.md
    assert b"session=s3cret" in by_uri(snap.records, "resource", f"urn:dom:{url}").block
    assert by_uri(snap.records, "metadata", f"urn:pageinfo:{url}").json()["storageState"]
    assert_case_verifies(snap)


@needs_chromium
def test_origin_certificates_are_verified(tmp_path: Path, site: LocalServer) -> None:
    url = site.url("/app")
    for sub in ("strict", "insecure"):
        (tmp_path / sub).mkdir()
    snap = snapshot(tmp_path / "strict", "--browser", *FAST, url)  # no --ca-file
    assert snap.proc.returncode == 5
    [row] = snap.summary["urls"]
    assert "TLS certificate rejected" in row["error"], row
    group = exchanges(snap.records)[0]
    assert group.response is None and "TLS certificate rejected" in group.meta["error"]
    assert not [r for r in snap.records if r.type == "resource"], "screenshots of a 502"
    assert_case_verifies(snap)
    snap = snapshot(tmp_path / "insecure", "--browser", "--insecure-skip-tls-verify", *FAST,
                    url)
    assert snap.proc.returncode == 0, snap.proc.stderr
    meta = {g.url: g.meta for g in exchanges(snap.records)}[url]
    assert meta["tlsVerification"] == "disabled by --insecure-skip-tls-verify"
    assert meta["tls"]["verified"] is False


# -- failures -------------------------------------------------------------------------------


@needs_chromium
def test_failures_are_recorded_and_reported_in_time(tmp_path: Path, site: LocalServer,
                                                    root_pem: Path) -> None:
    urls = {name: site.url(f"/{name}") for name in ("hang", "spin", "download")}
    snap = snapshot(tmp_path, "--browser", "--ca-file", str(root_pem), "--page-timeout", "5",
                    "--concurrency", "3", *urls.values())
    assert snap.proc.returncode == 5, snap.proc.stderr
    assert snap.seconds < 30, f"took {snap.seconds:.1f} s"
    errors = {row["url"]: row["error"] or "" for row in snap.summary["urls"]}
    assert "did not finish loading within 5 s" in errors[urls["hang"]]
    assert "did not finish loading within 5 s" in errors[urls["spin"]]
    assert "started a download" in errors[urls["download"]]
    for url in urls.values():  # each attempt is evidence: its exchange and its page info
        by_uri(snap.records, "response", url)
        info = by_uri(snap.records, "metadata", f"urn:pageinfo:{url}").json()
        assert info["error"] == errors[url]
    hang = by_uri(snap.records, "metadata", f"urn:pageinfo:{urls['hang']}").json()
    assert hang["requests"]["abandoned"] == [site.url("/slow?delay=1&pieces=600")]
    assert "1 of" not in snap.proc.stderr and "3 of 3 URLs" in snap.proc.stderr
    assert_case_verifies(snap)


@needs_chromium
def test_renderer_crash_is_reported_and_the_next_page_captured(
        tmp_path: Path, site: LocalServer, root_pem: Path) -> None:
    outcomes, records, seconds = capture_pages(tmp_path, ["chrome://crash", site.url("/app")],
                                               root=root_pem)
    assert seconds < 60
    crash, app = outcomes
    assert crash.error is not None and "renderer crashed" in crash.error
    assert app.ok, app.error
    info = by_uri(records, "metadata", "urn:pageinfo:chrome://crash").json()
    assert info["crashed"] is True
    by_uri(records, "resource", f"urn:fullPage:{site.url('/app')}")


@needs_chromium
def test_total_timeout_cuts_the_running_page_and_skips_the_rest(
        tmp_path: Path, site: LocalServer, root_pem: Path) -> None:
    hang, app = site.url("/hang"), site.url("/app")
    outcomes, records, seconds = capture_pages(tmp_path, [hang, app], root=root_pem,
                                               total_timeout=4)
    assert seconds < 20
    errors = {o.seed: o.error for o in outcomes}
    assert errors == {hang: "not finished: total time limit reached",
                      app: "not fetched: total time limit reached"}
    by_uri(records, "metadata", f"urn:pageinfo:{hang}")  # the cut page is still recorded
    assert not [r for r in records if (r.get("WARC-Target-URI") or "").endswith(app)]


@needs_chromium
def test_chromium_that_cannot_start_fails_every_page(tmp_path: Path, site: LocalServer) -> None:
    outcomes, records, _ = capture_pages(tmp_path, [site.url("/app")],
                                         executable=str(tmp_path / "no-chromium"))
    [outcome] = outcomes
    assert outcome.error is not None and outcome.error.startswith("cannot start Chromium")
    assert [r.type for r in records] == ["warcinfo", "metadata"]  # the run record only


@needs_chromium
def test_pages_in_parallel(tmp_path: Path, site: LocalServer, root_pem: Path,
                           process_tag: str, http_server: LocalServer) -> None:
    browsersite.install(http_server)  # plain http: absolute-form requests, no tunnel
    urls = [site.url(p) for p in ("/app", "/cookie", "/busy")] + [http_server.url("/")]
    running: list[int] = []  # the process check is not vacuous: the tag reaches Chromium
    outcomes, records, _ = capture_pages(
        tmp_path, urls, root=root_pem, concurrency=4,
        on_progress=lambda *_: running.append(len(tagged_processes(process_tag))))
    assert min(running) >= 3, running  # Playwright's driver, Chromium and its helpers
    assert sorted(o.seed for o in outcomes) == sorted(urls)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    for url in urls:
        info = by_uri(records, "metadata", f"urn:pageinfo:{url}").json()
        assert info["requests"]["recorded"] >= 1
    plain = by_uri(records, "response", http_server.url("/api/content"))
    assert browsersite.CONTENT_TEXT.encode() in plain.block
    busy = by_uri(records, "metadata", f"urn:pageinfo:{site.url('/busy')}").json()
    assert busy["notes"] == ["the network was still busy after 10 s"]


# -- the proxy and the run authority on their own -------------------------------------------


def test_url_key() -> None:
    assert url_key("HTTPS://Example.ORG:443/a?b#c") == "https://example.org/a?b"
    assert url_key("http://[::1]:8080") == "http://[::1]:8080/"


def test_run_authority_issues_for_ip_and_dns(tmp_path: Path) -> None:
    authority = RunAuthority(now())
    try:
        for host in ("127.0.0.1", "localhost", "xn--bcher-kva.example"):
            context = authority.server_context(host)
            assert context is authority.server_context(host)
        with pytest.raises(ValueError):
            authority.server_context("bad host")
        assert authority.ca_sha256.startswith("sha256:")
    finally:
        authority.close()


async def _proxied(proxy_port: int, request: bytes, tunnel: tuple[str, int] | None = None,
                   ca_pem: bytes | None = None) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
    try:
        if tunnel is not None:
            authority = f"{tunnel[0]}:{tunnel[1]}"
            writer.write(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200 ")
            context = ssl.create_default_context(cadata=(ca_pem or b"").decode())
            await writer.start_tls(context, server_hostname=tunnel[0])
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        return head + await asyncio.wait_for(reader.readexactly(length), 10)
    finally:
        writer.close()


def run_proxy(test: Callable[[RecordingProxy], Any], root: Path | None = None) -> Any:
    async def main() -> Any:
        context, store = tls.client_context(root)
        authority = RunAuthority(now())
        proxy = RecordingProxy(limits=recorder.FetchLimits(timeout=5), context=context,
                               trust_store=store, now=now, authority=authority,
                               policy=AddressPolicy(seed_addresses=frozenset({"127.0.0.1"})))
        try:
            return await test(proxy)
        finally:
            await proxy.close()
            authority.close()

    return asyncio.run(main())


def test_proxy_relays_the_recorded_bytes(site: LocalServer, root_pem: Path) -> None:
    seen: list[recorder.Exchange] = []

    async def test(proxy: RecordingProxy) -> tuple[bytes, bytes]:
        session = await proxy.open_session(seen.append)
        pem = proxy.authority.ca_cert.public_bytes(Encoding.PEM)
        got = await _proxied(session.port, b"GET /api/content HTTP/1.1\r\nHost: 127.0.0.1:"
                             + str(site.port).encode() + b"\r\nProxy-Connection: keep-alive"
                             b"\r\n\r\n", ("127.0.0.1", site.port), pem)
        assert seen[0].response is not None
        return got, b"".join(seen[0].response.iter_chunks())

    got, recorded = run_proxy(test, root_pem)
    assert got == recorded and got.startswith(b"HTTP/1.1 200 OK")
    assert seen[0].url == site.url("/api/content") and seen[0].tls is not None
    assert seen[0].request is not None
    assert b"Proxy-Connection" not in b"".join(seen[0].request.iter_chunks())


def test_proxy_answers_failures_with_502(http_server: LocalServer) -> None:
    seen: list[recorder.Exchange] = []
    with LocalServer() as closed:
        dead = closed.url("/")

    async def test(proxy: RecordingProxy) -> dict[str, bytes]:
        page = await proxy.open_session(seen.append)
        own = await proxy.open_session(forward=False)
        out = {}
        host = f"Host: 127.0.0.1:{http_server.port}\r\n"
        out["dead"] = await _proxied(page.port, f"GET {dead} HTTP/1.1\r\nHost: x\r\n\r\n"
                                     .encode())
        out["own"] = await _proxied(own.port, f"GET {http_server.url('/')} HTTP/1.1\r\n{host}"
                                    "\r\n".encode())
        out["ws"] = await _proxied(page.port, f"GET {http_server.url('/')} HTTP/1.1\r\n{host}"
                                   "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n".encode())
        out["bad"] = await _proxied(page.port, f"GET {http_server.url('/')} HTTP/1.1\r\n\r\n"
                                    .encode())  # no Host
        assert len(own.refused) == 1 and len(page.refused) == 2
        return out

    out = run_proxy(test)
    assert out.pop("bad").startswith(b"HTTP/1.1 400 ")
    assert all(v.startswith(b"HTTP/1.1 502 ") for v in out.values()), out
    assert b"Connection refused" in out["dead"]
    [failed] = seen  # the failed attempt is handed on; the refusals are not
    assert failed.status is None and failed.error and "refused" in failed.error
    assert not http_server.requests, "a refused request reached the origin"


def test_proxy_refuses_private_addresses_the_seeds_did_not_resolve_to() -> None:
    seen: list[recorder.Exchange] = []
    with LocalServer(bind="127.0.0.2") as internal:

        async def test(proxy: RecordingProxy) -> bytes:
            page = await proxy.open_session(seen.append)
            return await _proxied(page.port, f"GET {internal.url('/')} HTTP/1.1\r\nHost: "
                                  f"127.0.0.2:{internal.port}\r\n\r\n".encode())

        answer = run_proxy(test)
        assert internal.requests == []
    assert answer.startswith(b"HTTP/1.1 502 ") and b"127.0.0.2 is a loopback" in answer
    [refused] = seen  # handed on: the page's collector records the refusal
    assert refused.refused and refused.request is None
    assert refused.refused_addresses == [("127.0.0.2", "loopback")]


# -- hostile pages (issue 14, point 9) ----------------------------------------------------------


@needs_chromium
def test_a_tall_page_is_cut_and_the_rest_of_the_run_sealed(
        tmp_path: Path, site: LocalServer, root_pem: Path) -> None:
    tall, app = site.url("/tall"), site.url("/app")
    snap = snapshot(tmp_path, "--browser", "--ca-file", str(root_pem), *FAST, tall, app)
    assert snap.proc.returncode == 0, snap.proc.stderr
    # Chromium drew and the image library decoded 1280 x 300,000 px before: 1.7 GB resident
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss >> 10
    assert peak_mb < 1000, f"{peak_mb} MB"
    limits = PageLimits()
    info = by_uri(snap.records, "metadata", f"urn:pageinfo:{tall}").json()
    kept = f"the top left 1280x{limits.max_pixels // 1280} px"
    assert info["notKept"] == [{
        "what": "fullPage", "kept": kept,
        "why": f"the page is 1280x{browsersite.TALL} px, over the limit of "
               f"{limits.max_width} px across and {limits.max_pixels:,} pixels"}]
    full = png(by_uri(snap.records, "resource", f"urn:fullPage:{tall}"))
    assert full.size == (1280, limits.max_pixels // 1280)
    assert info["pageSize"] == {"width": 1280, "height": browsersite.TALL}
    banner = png(by_uri(snap.records, "resource", f"urn:fullPageBanner:{tall}"))
    assert banner.height == full.height + info["banner"]["bannerHeight"]
    rows = {row["url"]: row for row in snap.summary["urls"]}
    assert f"fullPage cut to {kept}: the page is 1280x" in rows[tall]["note"]
    assert rows[app]["status"] == 200 and not rows[app]["failed"]
    by_uri(snap.records, "resource", f"urn:fullPage:{app}")
    assert_case_verifies(snap)


@needs_chromium
def test_a_page_that_navigates_by_script_is_named_by_what_it_shows(
        tmp_path: Path, site: LocalServer, root_pem: Path) -> None:
    a, b, shown = site.url("/nav/a"), site.url("/nav/b"), site.url("/nav/b-shown")
    snap = snapshot(tmp_path, "--browser", "--ca-file", str(root_pem), *FAST, a)
    assert snap.proc.returncode == 0, snap.proc.stderr
    info = by_uri(snap.records, "metadata", f"urn:pageinfo:{a}").json()
    assert info["title"] == "page B" and info["finalUrl"] == shown
    assert info["chain"]["steps"] == [{"url": a, "how": "requested"},
                                      {"url": b, "how": "page"},
                                      {"url": shown, "how": "same-document"}]
    assert info["navigation"] == [a, b]
    reached = f"{a} → {b} (page) → {shown} (same-document)"
    assert info["banner"]["fields"][:2] == [f"URL: {shown}", f"Reached: {reached}"]
    assert b"page B" in by_uri(snap.records, "resource", f"urn:dom:{a}").block
    # the main response is page B's, and the summary names what was shown
    assert info["mainResponse"] == by_uri(snap.records, "response", b).id
    [row] = snap.summary["urls"]
    assert row["finalUrl"] == shown and row["hops"] == [a, b] and row["status"] == 200
    assert f"shows {shown}, reached {reached}" in row["note"]
    assert_case_verifies(snap)


@needs_chromium
def test_a_page_cannot_make_the_browser_fetch_an_internal_host(
        tmp_path: Path, http_server: LocalServer) -> None:
    with LocalServer(bind="127.0.0.2") as internal:
        secret, api = internal.url("/secret.png"), internal.url("/api")
        http_server.add_route("/hostile", browsersite._ok(
            b"text/html", f"<!DOCTYPE html><title>hostile</title><img src='{secret}'>"
                          f"<script>fetch('{api}').catch(() => 0)</script>".encode()))
        http_server.add_route("/go", redirect_response(internal.url("/").encode()))
        url, go = http_server.url("/hostile"), http_server.url("/go")
        snap = snapshot(tmp_path, "--browser", *FAST, url, go)
        assert internal.requests == [], "a packet reached the internal host"
    # the seed redirected to the internal host fails (exit 5); the other page is captured
    assert snap.proc.returncode == 5, snap.proc.stderr
    rows = {row["url"]: row for row in snap.summary["urls"]}
    assert rows[go]["failed"] and "refused: 127.0.0.2 is a loopback" in rows[go]["error"]
    assert not rows[url]["failed"] and rows[url]["status"] == 200
    assert not [r for r in snap.records if r.type == "resource"
                and (r.get("WARC-Target-URI") or "").endswith(go)], "screenshots of a refusal"
    info = by_uri(snap.records, "metadata", f"urn:pageinfo:{url}").json()
    refused = {r["url"]: r["why"] for r in info["requests"]["addressesRefused"]}
    assert set(refused) == {secret, api}
    assert all(w.startswith("refused: 127.0.0.2 is a loopback address") for w in
               refused.values())
    for target in (secret, api):  # each refusal sealed as a failed attempt
        meta = by_uri(snap.records, "metadata", target).json()
        assert meta["addressesRefused"] == [{"address": "127.0.0.2", "range": "loopback"}]
    run = by_uri(snap.records, "metadata", f"urn:prov:browser:{snap.summary['captureId']}")
    assert run.json()["pageRequestsRefusedByAddress"] == 3  # the redirect's target too
    assert run.json()["addressPolicy"] == {"allowPrivateAddresses": False,
                                           "seedAddresses": ["127.0.0.1"]}
    assert "2 refused (private addresses)" in rows[url]["note"]
    assert "3 requests for private addresses were refused" in snap.proc.stderr
    assert_case_verifies(snap)


@needs_chromium
def test_a_page_whose_navigation_never_answers_fails_alone(
        tmp_path: Path, site: LocalServer, root_pem: Path) -> None:
    # Chromium (through Playwright) gives nothing of a page while its navigation is pending:
    # that page fails, says why, and names the page it was at; the run is sealed
    late, stall, app = site.url("/nav/late"), site.url("/nav/stall"), site.url("/app")
    snap = snapshot(tmp_path, "--browser", "--ca-file", str(root_pem), "--scroll-steps", "1",
                    "--page-timeout", "10", late, app)
    assert snap.proc.returncode == 5, snap.proc.stderr
    rows = {row["url"]: row for row in snap.summary["urls"]}
    assert f"(the page was navigating to {stall}, which had not answered" in rows[late]["error"]
    assert rows[late]["hops"] == [late] and rows[late]["failed"]
    assert not rows[app]["failed"]
    info = by_uri(snap.records, "metadata", f"urn:pageinfo:{late}").json()
    assert info["chain"] == {"steps": [{"url": late, "how": "requested"}],
                             "after": [{"url": stall, "how": "page"}], "more": 0}
    assert info["navigation"] == [late] and info["error"] == rows[late]["error"]
    assert_case_verifies(snap)


@needs_chromium
def test_a_dom_over_its_limit_is_not_kept_and_says_why(
        tmp_path: Path, site: LocalServer, root_pem: Path) -> None:
    url = site.url("/app")
    limits = PageLimits(timeout=10, scroll_steps=1, artifact_timeout=10, max_dom=100)
    [outcome], records, _ = capture_pages(tmp_path, [url], root=root_pem, limits=limits)
    assert outcome.ok, outcome.error
    info = by_uri(records, "metadata", f"urn:pageinfo:{url}").json()
    assert len(info["notKept"]) == 1, info
    [item] = info["notKept"]
    assert item["what"] == "dom" and item["kept"] == "nothing"
    assert item["why"].startswith("the DOM serialises to ") and "over the limit of 100" in \
        item["why"]
    assert "dom" not in info["records"] and "fullPage" in info["records"]
    assert outcome.note is not None and "dom not kept: the DOM serialises" in outcome.note
