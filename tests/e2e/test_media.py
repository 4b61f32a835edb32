"""Media capture, offline: yt-dlp (its generic extractor) behind prov's recording proxy,
against a local video platform (`mediasite`) over HTTPS with the test CA, serving media that
Debian's ffmpeg made for the test.

One capture of every kind of post is shared by most tests: a <video> page, an og:video page,
an HLS playlist, a DASH manifest (two streams yt-dlp merges), and posts that fail in each way
the availability classification knows.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html import escape as html_escape
from pathlib import Path
from typing import Any

import mediasite
import pytest
from helpers import run_prov
from servers import LocalServer
from test_snapshot import BIN, Rec, Snap, assert_peer_checks, exchanges, snapshot
from testca import TestCA

from archive.warc.reader import WarcReader

pytestmark = pytest.mark.skipif(not mediasite.have_ffmpeg(),
                                reason="media tests need Debian's ffmpeg (scripts/test "
                                       "installs it)")
yt_dlp = pytest.importorskip("yt_dlp")

CAPTURED = ("/watch/video", "/watch/og", "/watch/ld", "/hls/index.m3u8", "/dash/stream.mpd")
FAILING = {
    "/watch/removed": "removed",
    "/watch/gone": "removed",
    "/watch/private": "private",
    "/watch/login": "login-required",
    "/watch/geo": "geo-blocked",
    "/watch/limited": "rate-limited",
    "/watch/blocked": "blocked",
}


@dataclass
class MediaRun:
    snap: Snap
    site: mediasite.MediaSite
    server: LocalServer

    def url(self, path: str) -> str:
        return self.server.url(path)

    def one(self, uri: str, warc_types: tuple[str, ...] = ("metadata",)) -> Rec:
        found = [r for r in self.snap.records
                 if r.get("WARC-Target-URI") == uri and r.type in warc_types]
        assert len(found) == 1, (uri, [r.type for r in found])
        return found[0]

    def media(self, path: str) -> Rec:
        return self.one(f"urn:media:{self.url(path)}", ("resource", "conversion"))

    def info(self, path: str) -> dict[str, object]:
        return self.one(f"urn:mediainfo:{self.url(path)}").json()

    def availability(self, path: str) -> dict[str, object]:
        return self.one(f"urn:availability:{self.url(path)}").json()


@pytest.fixture(scope="module")
def run(test_ca: TestCA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaRun]:
    tmp = tmp_path_factory.mktemp("media")
    root = test_ca.write_root(tmp / "root.pem")
    with LocalServer(tls=test_ca) as server:
        site = mediasite.serve(server, tmp / "site")
        urls = [server.url(p) for p in (*CAPTURED, *FAILING)]
        snap = snapshot(tmp, "--media", "--ca-file", str(root), "--retries", "0", *urls)
        yield MediaRun(snap, site, server)


def test_summary_names_what_was_captured_and_what_failed(run: MediaRun) -> None:
    assert run.snap.proc.returncode == 5, run.snap.proc.stderr
    failed = {u["url"] for u in run.snap.summary["urls"] if u["failed"]}
    assert failed == {run.url(p) for p in FAILING}
    states = {p["url"]: p["availability"] for p in run.snap.summary["media"]}
    assert states == {**{run.url(p): "available" for p in CAPTURED},
                      **{run.url(p): s for p, s in FAILING.items()}}


def test_every_request_ytdlp_made_is_recorded_once_byte_exact(run: MediaRun) -> None:
    recorded = sorted(g.request.block for g in run.snap.groups if g.request is not None)
    received = sorted(r.raw for r in run.server.requests)
    assert received, "yt-dlp sent nothing"
    assert recorded == received
    # and every response yt-dlp got is the one the server sent, with the origin's chain
    for group in run.snap.groups:
        assert group.response is not None, group.url
        assert "tls" in group.meta
        tls = group.meta["tls"]
        assert tls["verified"] is True
        assert len(tls["chainSent"]) == 2  # the test leaf and its intermediate, as sent


def test_progressive_download_is_a_resource_record_of_the_served_bytes(run: MediaRun) -> None:
    for path, served in (("/watch/video", "/media/clip.webm"), ("/watch/og", "/media/og.mp4"),
                         ("/watch/ld", "/media/og.mp4")):
        rec = run.media(path)
        assert rec.type == "resource"
        body = run.site.body(served)
        assert rec.block == body
        assert rec.get("WARC-Block-Digest") == "sha256:" + hashlib.sha256(body).hexdigest()
        groups = [g for g in run.snap.groups if g.url == run.url(served)]
        assert all(g.response is not None and g.response.http_payload == body for g in groups)
        [file] = run.info(path)["files"]  # type: ignore[misc]
        assert file["identicalToResponse"] in {g.response.id for g in groups if g.response}
        assert file["sha256"] == "sha256:" + hashlib.sha256(body).hexdigest()


def test_hls_segments_joined_are_a_conversion_of_the_playlist(run: MediaRun) -> None:
    rec = run.media("/hls/index.m3u8")
    assert rec.type == "conversion"
    segments = sorted((p for p in run.site.files if p.endswith(".ts")),
                      key=lambda p: int(p[len("/hls/seg"):-3]))
    assert len(segments) >= 2
    assert rec.block == b"".join(run.site.body(p) for p in segments)
    refers = rec.get("WARC-Refers-To")
    [target] = [r for r in run.snap.records if r.id == refers]
    assert target.type == "response"
    assert target.get("WARC-Target-URI") == run.url("/hls/index.m3u8")


def test_dash_streams_merged_by_ffmpeg_are_a_conversion(run: MediaRun, tmp_path: Path) -> None:
    rec = run.media("/dash/stream.mpd")
    assert rec.type == "conversion"
    assert rec.get("WARC-Refers-To") in {r.id for r in run.snap.records if r.type == "response"}
    [file] = run.info("/dash/stream.mpd")["files"]  # type: ignore[misc]
    assert file["merged"] is True
    assert len(file["sources"]) == 2
    assert all(s["responseRecord"] for s in file["sources"])
    out = tmp_path / "merged.mp4"
    out.write_bytes(rec.block)
    probe = subprocess.run(["/usr/bin/ffprobe", "-v", "error", "-show_entries",
                            "stream=codec_type", "-of", "json", str(out)],
                           capture_output=True, text=True, check=True, timeout=60)
    kinds = sorted(s["codec_type"] for s in json.loads(probe.stdout)["streams"])
    assert kinds == ["audio", "video"]


def test_info_record_fields(run: MediaRun) -> None:
    info = run.info("/watch/video")
    assert info["ytDlpVersion"] == yt_dlp.version.__version__
    [video] = info["videos"]  # type: ignore[misc]
    assert video["fields"]["title"].startswith(mediasite.TITLE)
    assert video["fields"]["extractor"] in ("html5", "generic")
    assert video["fields"]["webpage_url"] == run.url("/watch/video")
    offered = video["formatsOffered"]
    assert [f["url"] for f in offered] == [run.url("/media/clip.webm")]
    assert video["info"]["id"] == video["fields"]["id"]
    hls = run.info("/hls/index.m3u8")["videos"][0]  # type: ignore[index]
    assert hls["fields"]["duration"] == pytest.approx(2, abs=0.5)
    ld = run.info("/watch/ld")
    assert ld["extractor"] == "generic"
    fields = ld["videos"][0]["fields"]  # type: ignore[index]
    assert fields["uploader"] == mediasite.UPLOADER
    assert fields["timestamp"] == 1793607300  # 2026-11-02T08:15:00Z, the post's uploadDate
    assert fields["upload_date"] == "20261102"
    assert fields["duration"] == 2
    assert fields["view_count"] == 12345
    assert fields["description"] == mediasite.DESCRIPTION
    assert fields["title"] == mediasite.LD_TITLE
    thumbnail = ld["videos"][0]["thumbnail"]  # type: ignore[index]
    assert thumbnail["url"] == run.url("/media/thumb.png")
    [shown] = [g for g in run.snap.groups if g.url == thumbnail["url"]]
    assert shown.response is not None and shown.response.id == thumbnail["responseRecord"]
    assert shown.response.http_payload == run.site.body("/media/thumb.png")
    mediainfo = run.one(f"urn:mediainfo:{run.url('/watch/video')}")
    assert mediainfo.get("WARC-Concurrent-To") == run.media("/watch/video").id


@pytest.mark.parametrize(("path", "state"), list(FAILING.items()))
def test_failing_post_is_classified_from_the_platform_answer(run: MediaRun, path: str,
                                                             state: str) -> None:
    found = run.availability(path)
    assert found["state"] == state, found
    assert found["takedown"] is (state in ("removed", "private"))
    assert found["post"] == run.url(path)
    response = [r for r in run.snap.records if r.id == found["responseRecord"]]
    assert response and response[0].type == "response"
    if path == "/watch/limited":
        assert found["retryAfter"] == "120" and found["status"] == 429
    if path == "/watch/removed":
        assert "removed by the user" in str(found["payloadExcerpt"])
    if path == "/watch/login":
        assert found["status"] == 302 and "/login" in str(found["location"])
    assert not [r for r in run.snap.records if r.get("WARC-Target-URI") in (
        f"urn:media:{run.url(path)}", f"urn:mediainfo:{run.url(path)}")]


def test_capture_entry_lists_each_post_availability(run: MediaRun) -> None:
    log = (run.snap.case / "custody" / "log.jsonl").read_text().splitlines()
    entries = [json.loads(__import__("base64").b64decode(json.loads(line)["payload"]))
               for line in log]
    [capture] = [e for e in entries if e["action"] == "capture"]
    media = {m["url"]: m for m in capture["details"]["media"]}
    assert media[run.url("/watch/removed")]["availability"] == "removed"
    assert media[run.url("/watch/limited")]["takedown"] is False
    rec = run.media("/watch/video")
    assert media[run.url("/watch/video")]["media"][0]["sha256"] == rec.get("WARC-Block-Digest")


def test_media_capture_verifies_and_passes_peer_checks(run: MediaRun) -> None:
    proc = run_prov("verify", str(run.snap.case), "--trust", str(run.snap.key_pub),
                    env=run.snap.env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for warc in run.snap.warcs:
        assert_peer_checks(warc)
    exchanges(run.snap.records)  # every request and response belongs to one exchange


def tamper_media(case: Path, uri: str) -> str:
    """Flip one byte inside the media record of ``uri`` (its gzip member rewritten, as an
    attacker would); returns the WARC file's path in the case."""
    for warc in sorted(case.rglob("*.warc.gz")):
        data = warc.read_bytes()
        with open(warc, "rb") as fh:
            offsets = [head.offset for head in WarcReader(fh)]
        parts = [data[a:b] for a, b in itertools.pairwise([*offsets, len(data)])]
        for i, part in enumerate(parts):
            record = gzip.decompress(part)
            if f"WARC-Target-URI: urn:media:{uri}\r\n".encode() not in record:
                continue
            edited = bytearray(record)
            edited[len(edited) - 100] ^= 0x01
            parts[i] = gzip.compress(bytes(edited), mtime=0)
            warc.write_bytes(b"".join(parts))
            return str(warc.relative_to(case))
    raise AssertionError(f"no media record for {uri}")


def test_tampered_media_fails_verify_naming_the_record_and_post(run: MediaRun,
                                                                tmp_path: Path) -> None:
    copy = tmp_path / "case"
    shutil.copytree(run.snap.case, copy)
    post = run.url("/watch/video")
    tamper_media(copy, post)
    proc = run_prov("verify", str(copy), "--trust", str(run.snap.key_pub), env=run.snap.env)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert run.media("/watch/video").id in out
    assert f"urn:media:{post}" in out


# -- takedown detection: prov schedule run and prov diff ----------------------------------------


def test_schedule_detects_a_takedown_and_never_a_rate_limit(tmp_path: Path) -> None:
    from helpers import make_case, prov_env
    from scheduling import log_entries, schedule_run, state, write_sources

    case, _ = make_case(tmp_path)
    env = prov_env(tmp_path)
    with LocalServer() as server:
        site = mediasite.serve(server, tmp_path / "site")
        video, og, ld = site.url("/watch/video"), site.url("/watch/og"), site.url("/watch/ld")
        sources = write_sources(tmp_path, [{"url": video, "media": True},
                                           {"url": og, "media": True},
                                           {"url": ld, "media": True}])
        first = schedule_run(env, sources, case, "--all", "--json")
        assert first.returncode == 0, first.stderr
        [capture_one] = json.loads(first.stdout)["captures"]
        site.remove("/watch/video")
        site.rate_limit("/watch/og")
        site.files["/media/og.mp4"] = site.files["/hls/seg0.ts"]  # ld's video re-uploaded
        second = schedule_run(env, sources, case, "--all", "--json")
        assert second.returncode == 5, second.stderr  # neither post could be captured
        # the stored snapshots of media posts hold against their sealed captures
        assert "did not match the signed evidence" not in second.stderr
        [capture_two] = json.loads(second.stdout)["captures"]
        diff = run_prov("diff", video, "--case", str(case), env=env)
        diff_json = run_prov("diff", video, "--case", str(case), "--json", env=env)
    takedowns = [e for e in log_entries(case) if e["action"] == "takedown-detected"]
    assert [t["details"]["url"] for t in takedowns] == [video]  # the 429 is no takedown
    details = takedowns[0]["details"]
    assert details["availability"] == "removed"
    assert details["lastSeen"]["captureId"] == capture_one
    assert details["firstMissing"]["captureId"] == capture_two
    reason = details["reason"]
    assert reason.startswith(f"removed: last seen in capture {capture_one} at ")
    assert f"first missing in capture {capture_two} at " in reason
    changes = [e["details"] for e in log_entries(case) if e["action"] == "change-detected"]
    assert len(changes) == 1, (changes, second.stderr, state(case))
    [changed] = changes
    assert changed["url"] == ld  # the page is the same, its video is not
    assert [c for c in changed["changes"] if c.startswith("media changed (sha256:")]
    rows = state(case)["sources"]
    assert rows[og]["lastError"].startswith("rate-limited")
    assert "removed" in rows[video]
    # prov diff says the same from the two capture entries
    assert diff.returncode == 0, diff.stderr
    assert "TAKEDOWN: removed: last seen in capture" in diff.stdout
    assert "media removed" in diff.stdout
    found = json.loads(diff_json.stdout)
    assert found["takedown"].startswith("removed: last seen in capture")
    assert found["after"]["availability"] == "removed"
    # the exhibit of the second capture shows the takedown beside the post's availability
    out = tmp_path / "report.html"
    report = run_prov("report", "--case", str(case), "--capture", capture_two, "-o", str(out),
                      env=env)
    assert report.returncode == 0, report.stderr
    html = out.read_text()
    assert "takedown-detected" in html and html_escape(reason) in html
    section = html.split(f"<h3>Media of {video}</h3>", 1)[1].split("<h3>", 1)[0]
    assert "<strong>removed</strong>" in section
    assert f"Takedown detected</th><td>{html_escape(reason)} (custody entry " in section


def test_captures_show_lists_media_with_uploader_time_and_duration(run: MediaRun) -> None:
    capture_id = run.snap.summary["captureId"]
    proc = run.snap.prov("captures", "show", capture_id)
    assert proc.returncode == 0, proc.stderr
    digest = run.media("/watch/ld").get("WARC-Block-Digest")
    block = proc.stdout.split(f"media available\t{run.url('/watch/ld')}\n", 1)[1]
    assert block.startswith(f"    uploader {mediasite.UPLOADER}, uploaded "
                            "2026-11-02T08:15:00.000000Z, 2 s, Generic\n")
    assert f"resource {digest}" in block.splitlines()[1]
    assert f"media removed\t{run.url('/watch/removed')}\t410 for the post" in proc.stdout
    shown = json.loads(run.snap.prov("captures", "show", capture_id, "--json").stdout)
    [ld] = [p for p in shown["media"] if p["url"] == run.url("/watch/ld")]
    assert (ld["uploader"], ld["timestamp"], ld["duration"]) == (mediasite.UPLOADER,
                                                                 1793607300, 2)


def test_exhibit_report_shows_media_facts_a_still_frame_and_availability(
        run: MediaRun, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    proc = run.snap.prov("report", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    html = out.read_text()
    rec = run.media("/watch/ld")
    section = html.split(f"<h3>Media of {run.url('/watch/ld')}</h3>", 1)[1].split("<h3>", 1)[0]
    for fact in (rec.id, rec.get("WARC-Block-Digest"), mediasite.UPLOADER, "20261102",
                 mediasite.LD_TITLE, "12345", "the fetched file as sent",
                 f"yt-dlp {yt_dlp.version.__version__}"):
        assert html_escape(str(fact)) in section, fact
    [(uri, still_digest)] = re.findall(
        r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"><figcaption>First frame of the media '
        r"record, decoded by ffmpeg; still PNG (sha256:[0-9a-f]{64})", section)
    png = base64.b64decode(uri)
    assert png.startswith(b"\x89PNG") and len(png) > 200
    assert still_digest == "sha256:" + hashlib.sha256(png).hexdigest()
    dash = html.split(f"<h3>Media of {run.url('/dash/stream.mpd')}</h3>", 1)[1]
    assert "conversion of the fetched streams" in dash.split("<h3>", 1)[0]
    removed = html.split(f"<h3>Media of {run.url('/watch/removed')}</h3>", 1)[1]
    assert "<strong>removed</strong> — 410 for the post (HTTP 410)" in removed.split("<h3>")[0]


# -- replay: the WACZ export plays the video in ReplayWeb.page -----------------------------------

# Load the video and seek into it rather than play it: a seek needs the service worker to
# answer range requests from the WACZ and a decoded frame at the new position, and it does not
# depend on whether the machine has an audio device for the clip's Opus track.
PLAY = """async (v) => {
  v.muted = true;
  if (v.readyState < 2) {
    await new Promise((ok, no) => {
      v.addEventListener('loadeddata', ok, {once: true});
      v.addEventListener('error', () => no(new Error('media error ' + (v.error && v.error.code))),
                         {once: true});
      v.load();
    });
  }
  await new Promise(ok => { v.addEventListener('seeked', ok, {once: true}); v.currentTime = 1.0; });
  return [v.readyState, v.currentTime, v.videoWidth, v.videoHeight, v.error && v.error.code];
}"""


def _decodes_here(page: Any, url: str) -> str | None:
    """None when this machine's Chromium decodes the clip served plainly, else why not."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        page.set_content(f'<video src="{url}" preload="auto"></video>')
        state = page.locator("video").evaluate(PLAY, timeout=30_000)
    except PlaywrightError as exc:
        return str(exc).splitlines()[0]
    return None if state[0] >= 2 else f"readyState {state[0]}"


@pytest.mark.flaky(reruns=2)  # a service worker in a loaded 2-CPU machine can miss its window
def test_wacz_of_a_media_capture_plays_the_video_in_replaywebpage(run: MediaRun,
                                                                 tmp_path: Path) -> None:
    from functools import partial
    from http.server import ThreadingHTTPServer

    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright
    from test_wacz import _RangeHandler, replaywebpage

    if not Path("/usr/bin/chromium").exists():
        pytest.skip("replay needs Debian's chromium")
    wacz = tmp_path / "media.wacz"
    proc = run.snap.prov("export", "wacz", "-o", str(wacz))
    assert proc.returncode == 0, proc.stderr
    valid = subprocess.run([str(BIN / "wacz"), "validate", "-f", str(wacz)],
                           capture_output=True, text=True, check=False, timeout=120)
    assert valid.returncode == 0 and "Validation succeeded" in valid.stdout, valid.stdout
    verified = run_prov("verify", str(wacz), "--trust", str(run.snap.key_pub),
                        env=run.snap.env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    rwp = replaywebpage()
    site = tmp_path / "site"
    (site / "replay").mkdir(parents=True)
    shutil.copy2(rwp / "ui.js", site / "ui.js")
    shutil.copy2(rwp / "ui.js", site / "replay" / "ui.js")
    shutil.copy2(rwp / "sw.js", site / "replay" / "sw.js")
    shutil.copy2(wacz, site / "evidence.wacz")
    post = run.url("/watch/video")
    (site / "index.html").write_text(
        '<!doctype html><html><head><script src="./ui.js"></script></head><body>'
        f'<replay-web-page source="evidence.wacz" url="{post}" '
        'style="display:block;width:800px;height:600px"></replay-web-page></body></html>')
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_RangeHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    played: list[Any] = []
    last = "the replay frame never showed a video"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                         args=["--autoplay-policy=no-user-gesture-required"])
            page = browser.new_page(ignore_https_errors=True)
            why = _decodes_here(page, run.url("/media/clip.webm"))
            if why is not None:  # the machine, not the WACZ: nothing replays here
                browser.close()
                pytest.skip(f"this machine's Chromium cannot decode the test clip: {why}")
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html")
            frame = page.frame_locator("replay-web-page iframe").frame_locator("iframe")
            deadline = time.monotonic() + 120
            while not played and time.monotonic() < deadline:
                try:  # the replay frame appears once the service worker has loaded the WACZ
                    played = frame.locator("video").evaluate(PLAY, timeout=10_000)
                except PlaywrightError as exc:
                    last = str(exc).splitlines()[0]
                    time.sleep(0.5)
            page.screenshot(path=str(tmp_path / "replay.png"))
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    assert played, f"no video replayed ({last}); see {tmp_path / 'replay.png'}"
    ready, position, width, height, error = played
    assert error is None and ready >= 2, played
    assert (width, height) == (160, 120)
    assert position > 0.2, played  # it sought into the clip


# -- with --browser and --media-comments; bad combinations ---------------------------------------


def test_browser_screenshot_beside_the_media_and_comments(test_ca: TestCA,
                                                          tmp_path: Path) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("needs Debian's chromium")
    root = test_ca.write_root(tmp_path / "root.pem")
    with LocalServer(tls=test_ca) as server:
        mediasite.serve(server, tmp_path / "site")
        post = server.url("/watch/ld")
        snap = snapshot(tmp_path, "--media", "--media-comments", "--browser", "--page-timeout",
                        "20", "--scroll-steps", "1", "--ca-file", str(root), post)
    assert snap.proc.returncode == 0, snap.proc.stderr
    uris = {(r.type, r.get("WARC-Target-URI")) for r in snap.records}
    for kind in ("fullPage", "view", "dom"):
        assert ("resource", f"urn:{kind}:{post}") in uris, kind
    assert ("resource", f"urn:media:{post}") in uris
    [comments] = [r for r in snap.records
                  if r.get("WARC-Target-URI") == f"urn:mediacomments:{post}"]
    doc = comments.json()
    assert doc["post"] == post and doc["videos"][0]["comments"] == []  # the page has none
    assert [u["url"] for u in snap.summary["urls"]] == [post, post]  # the page, then yt-dlp
    proc = run_prov("verify", str(snap.case), "--trust", str(snap.key_pub), env=snap.env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(("args", "says"), [
    (("--media-comments",), "--media-comments needs --media"),
    (("--media", "--depth", "1"), "--requisites and --depth do not apply to --media"),
    (("--media", "--requisites"), "--requisites and --depth do not apply to --media"),
])
def test_bad_media_options_are_usage_errors(tmp_path: Path, args: tuple[str, ...],
                                            says: str) -> None:
    from helpers import make_case, prov_env

    case, _ = make_case(tmp_path)
    proc = run_prov("snapshot", "--case", str(case), *args, "http://127.0.0.1:9/post",
                    env=prov_env(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr and "Traceback" not in proc.stderr


def test_media_source_with_depth_is_a_configuration_error(tmp_path: Path) -> None:
    from helpers import make_case, prov_env
    from scheduling import schedule_run, write_sources

    case, _ = make_case(tmp_path)
    sources = write_sources(tmp_path, [{"url": "http://127.0.0.1:9/post", "media": True,
                                        "depth": 1}])
    proc = schedule_run(prov_env(tmp_path), sources, case)
    assert proc.returncode == 6, proc.stderr
    assert "sources.toml:4: source 1: depth does not apply to media = true" in proc.stderr


def test_media_over_max_body_keeps_the_facts_and_fails_the_post(test_ca: TestCA,
                                                                tmp_path: Path) -> None:
    root = test_ca.write_root(tmp_path / "root.pem")
    with LocalServer(tls=test_ca) as server:
        mediasite.serve(server, tmp_path / "site")
        post = server.url("/watch/ld")
        snap = snapshot(tmp_path, "--media", "--max-body", "4000", "--ca-file", str(root),
                        post)
    assert snap.proc.returncode == 5, snap.proc.stderr
    assert not [r for r in snap.records if r.get("WARC-Target-URI") == f"urn:media:{post}"]
    [info] = [r.json() for r in snap.records
              if r.get("WARC-Target-URI") == f"urn:mediainfo:{post}"]
    assert info["files"] == []
    assert info["videos"][0]["fields"]["uploader"] == mediasite.UPLOADER
    [found] = [r.json() for r in snap.records
               if r.get("WARC-Target-URI") == f"urn:availability:{post}"]
    assert found["state"] == "error" and found["takedown"] is False
    assert "produced no file" in found["ytDlpError"]


def test_without_ytdlp_media_is_a_configuration_error(tmp_path: Path) -> None:
    from helpers import make_case, prov_env

    case, _ = make_case(tmp_path)
    shadow = tmp_path / "shadow" / "yt_dlp"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named yt_dlp')\n")
    env = prov_env(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([str(shadow.parent), env.get("PYTHONPATH", "")])
    proc = run_prov("snapshot", "--case", str(case), "--media", "http://127.0.0.1:9/post",
                    env=env)
    assert proc.returncode == 6, proc.stderr
    assert "media capture needs the yt-dlp package" in proc.stderr
    root = Path(__file__).resolve().parents[2]  # this checkout: the hint installs into it
    assert f"pip install -e {shlex.quote(f'{root}[media]')}" in proc.stderr
    assert "prov[" not in proc.stderr and "Traceback" not in proc.stderr


def test_a_planted_media_digest_in_the_schedule_state_signs_nothing(tmp_path: Path) -> None:
    from helpers import make_case, prov_env
    from scheduling import log_entries, schedule_run, state, write_sources

    case, _ = make_case(tmp_path)
    env = prov_env(tmp_path)
    with LocalServer() as server:
        site = mediasite.serve(server, tmp_path / "site")
        ld = site.url("/watch/ld")
        sources = write_sources(tmp_path, [{"url": ld, "media": True}])
        assert schedule_run(env, sources, case, "--all").returncode == 0
        doc = state(case)
        fake = "sha256:" + "0" * 64
        for name in ("fingerprint", "available"):
            doc["sources"][ld][name]["media"] = [fake]
        doc["sources"][ld]["fingerprint"]["availability"] = "removed"
        (case / "state" / "schedule.json").write_text(json.dumps(doc))
        second = schedule_run(env, sources, case, "--all")
    assert second.returncode == 0, second.stderr
    assert "did not match the signed evidence" in second.stderr
    assert not [e for e in log_entries(case)
                if e["action"] in ("change-detected", "takedown-detected")]
    assert state(case)["sources"][ld]["fingerprint"]["media"] != [fake]
