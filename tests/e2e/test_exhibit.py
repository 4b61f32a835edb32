"""`prov report`: one self-contained HTML exhibit, rendered in headless Chromium with every
network request refused; the embedded screenshot decodes and is not blank, nor is the
rendered report; facts per capture come from the sealed records; the report is a logged
custody event; a case that fails verification is refused unless --allow-failed, and then the
report says so first.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from exports import SHOT_URL, Built, build, entries
from helpers import make_case, prov_env, run_prov
from scheduling import WatchedSite, log_entries, schedule_run, write_sources
from selectolax.lexbor import LexborHTMLParser as HTMLParser
from servers import LocalServer
from tsa import LocalTSA

EXIT_OK, EXIT_USAGE, EXIT_INTEGRITY = 0, 2, 3
DISTINCT_COLOURS = """async (src) => {
  const img = new Image(); img.src = src; await img.decode();
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data; const seen = new Set();
  for (let i = 0; i < d.length; i += 4) seen.add((d[i] << 16) | (d[i+1] << 8) | d[i+2]);
  return [c.width, c.height, seen.size];
}"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    with LocalTSA(key="ec") as tsa:
        yield build(tmp_path_factory.mktemp("exhibit"), tsa)


@pytest.fixture(scope="module")
def report(built: Built) -> Path:
    out = built.root / "report.html"
    proc: Any = built.prov("report", "--case", str(built.case), "-o", str(out))
    assert proc.returncode == EXIT_OK, proc.stderr
    return out


def test_report_holds_the_facts(built: Built, report: Path) -> None:
    html = report.read_text()
    assert "Verification passed." in html
    assert html.index("Verification passed.") < html.index("Capture 1:")
    assert "How to re-verify" in html and "prov verify" in html
    for fact in (built.first_id, built.synthetic_id, SHOT_URL, "203.0.113.7",
                 "CN=evidence.example", "HTTP/1.1 200 OK", "Evidence Example",
                 *built.seeds, "Custody timeline", "Trusted timestamps"):
        assert fact in html, fact
    assert "Export test &lt;case&gt; &amp; co" in html  # escaped, never markup
    assert "<script" not in html and not re.search(r'(src|href)="(?!data:|#)', html)
    timestamps = re.findall(r"\d{4}-\d\d-\d\dT[\d:.]+Z — http://127\.0\.0\.1:\d+", html)
    assert timestamps, "the first capture's TSA and genTime"


def test_rendered_offline_with_screenshot(built: Built, report: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    refused: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1000, "height": 1400})
        page.route("**/*", lambda route: (refused.append(route.request.url), route.abort())
                   if not route.request.url.startswith(("file:", "data:")) else
                   route.continue_())
        page.goto(report.as_uri())
        shot = page.locator("img.screenshot")
        assert shot.count() == 1
        width, height, colours = page.evaluate(DISTINCT_COLOURS, shot.get_attribute("src"))
        assert (width, height) == (64, 48) and colours > 16
        assert page.evaluate("() => document.querySelector('img.screenshot').naturalWidth") == 64
        png = page.screenshot(full_page=True)
        (tmp_path / "report.png").write_bytes(png)
        _, _, rendered = page.evaluate(DISTINCT_COLOURS,
                                       "data:image/png;base64," + base64.b64encode(png).decode())
        browser.close()
    assert refused == []
    assert rendered > 50, "the rendered report looks blank"


def test_report_is_a_custody_event(built: Built, report: Path) -> None:
    logged: Any = [e for e in entries(built) if e["action"] == "export"]
    details = logged[0]["details"]
    assert details["kind"] == "report"
    assert details["manifestSha256"] == hashlib.sha256(report.read_bytes()).hexdigest()
    assert set(details["captures"]) == {built.first_id, built.synthetic_id}


def test_one_capture_and_bad_arguments(built: Built, tmp_path: Path) -> None:
    out = tmp_path / "one.html"
    proc: Any = built.prov("report", "--case", str(built.case), "--capture",
                           built.first_id, "-o", str(out))
    assert proc.returncode == EXIT_OK, proc.stderr
    html = out.read_text()
    assert built.first_id in html and "Capture 2" not in html
    proc = built.prov("report", "--case", str(built.case), "-o", str(out))
    assert proc.returncode == EXIT_USAGE and "already exists" in proc.stderr
    proc = built.prov("report", "--case", str(built.case), "-o", str(tmp_path / "r.pdf"))
    assert proc.returncode == EXIT_USAGE and ".html" in proc.stderr
    proc = built.prov("report", "--case", str(built.case), "--capture", "0", "-o",
                      str(tmp_path / "x.html"))
    assert proc.returncode == EXIT_USAGE and "captures match" in proc.stderr


def test_failing_case_refused_unless_allowed(built: Built, tmp_path: Path) -> None:
    broken = built.clone(tmp_path / "broken")
    seal = next(broken.case.glob(f"captures/*/*/*/{built.synthetic_id}/seal.dsse.json"))
    shutil.copy2(seal, seal.with_name("extra.bin"))  # a file no seal names
    out = tmp_path / "r.html"
    proc: Any = broken.prov("report", "--case", str(broken.case), "-o", str(out))
    assert proc.returncode == EXIT_INTEGRITY and "fails verification" in proc.stderr
    assert not out.exists()
    proc = broken.prov("report", "--case", str(broken.case), "-o", str(out), "--allow-failed")
    assert proc.returncode == EXIT_OK, proc.stderr
    html = out.read_text()
    assert html.index("FAILED verification") < html.index("How to re-verify")
    assert "extra.bin" in html


# -- an investigation: a browser capture of two pages (one moved, 301), a note, a watched
# source that changes, another taken down; the report read by its text and in Chromium ------

NOTE = "Preserved at counsel's request <before the vote>"
RED, BLUE = (200, 20, 20), (20, 40, 200)
PAGE_COLOURS = """() => [...document.querySelectorAll('section.page')].map(s => {
  const img = s.querySelector('img.screenshot'); if (!img) return [s.dataset.url, null];
  const c = document.createElement('canvas'); c.width = img.naturalWidth;
  c.height = img.naturalHeight; const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  const d = g.getImageData(Math.floor(c.width / 2), 60, 1, 1).data;
  const facts = s.querySelector('.facts').getBoundingClientRect();
  const shot = img.getBoundingClientRect();
  return [s.dataset.url, [d[0], d[1], d[2]], img.alt, shot.left >= facts.right,
          shot.top < facts.bottom];
})"""


@dataclass
class Investigation:
    root: Path
    case: Path
    env: dict[str, str]
    urls: dict[str, str]  # name -> URL
    browser_id: str
    report: Path

    def prov(self, *args: str) -> Any:
        return run_prov(*args, env=self.env, timeout=180)


def coloured(text: str, rgb: tuple[int, int, int]) -> str:
    return (f'<div style="background: rgb{rgb}; color: white; height: 900px; '
            f'font-size: 40px">{text}</div>')


@pytest.fixture(scope="module")
def investigation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Investigation]:
    root = tmp_path_factory.mktemp("investigation")
    with LocalServer() as server:
        site = WatchedSite(server)
        urls = {name: site.url(f"/{name}") for name in ("statement", "old-profile",
                                                          "profile", "post", "scripted")}
        site.page("/statement", coloured("I will not accept", RED), title="The statement")
        site.raw("/old-profile", b"301 Moved Permanently",
                 [(b"Location", urls["profile"].encode())], b"")
        site.page("/profile", coloured("The profile", BLUE), title="The profile")
        site.page("/post", "<p>A post about the vote</p>", title="A post")
        site.raw("/scripted", b"200 OK", [(b"Content-Type", b"text/html")],
                 b'<html><body><script>location.replace("/profile")</script></body></html>')
        case, _ = make_case(root)
        env = prov_env(root)
        proc = run_prov("snapshot", "--case", str(case), "--browser", "--note", NOTE, "--json",
                        urls["statement"], urls["old-profile"], urls["scripted"], env=env,
                        timeout=240)
        assert proc.returncode == EXIT_OK, proc.stderr
        browser_id = json.loads(proc.stdout)["captureId"]
        sources = write_sources(root, [{"url": urls["statement"]}, {"url": urls["post"]}],
                                defaults={"interval": "1h"})
        assert schedule_run(env, sources, case).returncode == EXIT_OK
        site.page("/statement", coloured("I accept", RED), title="The statement")
        site.gone("/post", b"410 Gone")
        second = schedule_run(env, sources, case, "--all")
        assert second.returncode == EXIT_OK, second.stderr
        assert "1 changed, 1 taken down" in second.stdout, second.stdout
    report = root / "report.html"
    proc = run_prov("report", "--case", str(case), "-o", str(report), env=env, timeout=240)
    assert proc.returncode == EXIT_OK, proc.stderr
    yield Investigation(root, case, env, urls, browser_id, report)


def _cells(table: Any) -> list[list[str]]:
    return [[cell.text(separator=" ").strip() for cell in row.css("td")]
            for row in table.css("tr")[1:]]


def _sections(doc: Any) -> list[Any]:
    return doc.css("section.capture")


def test_summary_lists_every_url_with_first_last_and_status_now(
        investigation: Investigation) -> None:
    doc = HTMLParser(investigation.report.read_text())
    html = investigation.report.read_text()
    assert html.index("<h2>Summary</h2>") < html.index('id="capture-1"')
    summary = doc.css("table.grid")[0]
    rows = {row[0]: row for row in _cells(summary)}
    urls = investigation.urls
    assert set(rows) == {urls["statement"], urls["old-profile"], urls["scripted"], urls["post"]}
    starts = [s.css_first("table td").text() for s in _sections(doc)]
    assert len(starts) == 3  # the browser capture and two schedule runs
    statement = rows[urls["statement"]]
    assert statement[1].startswith("Capture 1") and statement[2].startswith("Capture 3")
    assert "200 OK" in statement[3] and "Takedown" not in statement[3]
    moved = rows[urls["old-profile"]]
    assert moved[1].startswith("Capture 1") and moved[2].startswith("Capture 1")
    assert moved[3].startswith("HTTP/1.1 301 Moved Permanently")
    assert urls["profile"] in moved[3] and "200 OK" in moved[3]
    post = rows[urls["post"]]
    assert post[1].startswith("Capture 2") and post[2].startswith("Capture 3")
    assert "410 Gone" in post[3] and "Takedown detected : HTTP 410" in post[3]
    links = [a.attributes.get("href") for a in summary.css("a")]
    assert set(links) == {"#capture-1", "#capture-2", "#capture-3"}


def test_each_capture_lists_its_urls_note_and_events(investigation: Investigation) -> None:
    doc = HTMLParser(investigation.report.read_text())
    first, second, third = _sections(doc)
    urls = investigation.urls
    assert investigation.browser_id in first.css_first("h2").text()
    facts = {r.css_first("th").text(): r.css_first("td").text() for r in first.css("tr")
             if r.css_first("th") and r.css_first("td")}
    assert facts["Note"] == NOTE
    assert "Note" in second.text() and NOTE not in second.text()
    listed = {row[0]: row for row in _cells(first.css("table.grid")[0])}
    assert set(listed) == {urls["statement"], urls["old-profile"], urls["scripted"]}
    assert listed[urls["old-profile"]][1] == "HTTP/1.1 301 Moved Permanently"  # not the 200
    assert urls["profile"] in listed[urls["old-profile"]][2]
    assert "200 OK" in listed[urls["old-profile"]][2]
    assert listed[urls["statement"]][1].endswith("200 OK")
    assert listed[urls["statement"]][2] == "— (not redirected)"
    scripted = listed[urls["scripted"]]  # a page that moved by script, not by HTTP
    assert scripted[1] == "HTTP/1.1 200 OK" and urls["profile"] in scripted[2]
    assert "200 OK" in scripted[2] and "reached by the browser" in scripted[2]
    assert "detected" not in first.text() and "detected" not in second.text()
    [events] = [t for t in third.css("table.grid")
                if t.css_first("th").text() == "Time (UTC)"]
    rows = {row[1]: row for row in _cells(events)}
    logged = {e["action"]: e for e in log_entries(investigation.case)
              if e["action"] in ("change-detected", "takedown-detected")}
    takedown, change = rows["Takedown detected"], rows["Change detected"]
    assert takedown[0] == logged["takedown-detected"]["time"]
    assert takedown[2] == urls["post"] and takedown[3] == "410" and "HTTP 410" in takedown[4]
    assert change[0] == logged["change-detected"]["time"]
    assert change[2] == urls["statement"] and change[3] == "200"
    assert "content changed" in change[4]


def test_sealed_files_are_named_by_capture_for_sha256sum(investigation: Investigation,
                                                         tmp_path: Path) -> None:
    doc = HTMLParser(investigation.report.read_text())
    lines = [line for pre in doc.css("pre.sha256sum") for line in pre.text().splitlines()]
    names = [line.split("  ", 1)[1] for line in lines]
    assert len(names) == len(set(names)) >= 9, names  # 3 captures x (WARC, index, seal)
    assert all(n.startswith("captures/") for n in names)
    listing = tmp_path / "capture-files.txt"
    listing.write_text("\n".join(lines) + "\n")
    check = subprocess.run(["sha256sum", "-c", str(listing)], cwd=investigation.case,
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == len(lines)


def test_each_screenshot_beside_its_own_page_in_chromium(investigation: Investigation) -> None:
    from playwright.sync_api import sync_playwright

    refused: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1200, "height": 1400})
        page.route("**/*", lambda route: (refused.append(route.request.url), route.abort())
                   if not route.request.url.startswith(("file:", "data:")) else
                   route.continue_())
        page.goto(investigation.report.as_uri())
        shown = page.evaluate(PAGE_COLOURS)
        text = page.inner_text("body")
        browser.close()
    assert refused == []
    urls = investigation.urls
    with_shots = {url: rest for url, *rest in shown if rest[0] is not None}
    assert set(with_shots) == {urls["statement"], urls["old-profile"], urls["scripted"]}, shown
    for name, colour in (("statement", RED), ("old-profile", BLUE), ("scripted", BLUE)):
        pixel, alt, beside, level = with_shots[urls[name]]
        assert all(abs(a - b) < 30 for a, b in zip(pixel, colour, strict=True)), (name, pixel)
        assert alt == f"Screenshot of {urls[name]}" and beside and level
    assert text.index("Summary") < text.index("Capture 1:")
    assert NOTE in text


def test_a_symlinked_warc_is_never_followed(built: Built, tmp_path: Path) -> None:
    """A case that fails verification, reported with --allow-failed: a WARC replaced by a
    symlink (to a copy of itself, outside the case) is refused by name, not read."""
    broken = built.clone(tmp_path / "broken")
    warc = next(broken.case.glob(f"captures/*/*/*/{built.first_id}/data-00000.warc.gz"))
    outside = tmp_path / "elsewhere.warc.gz"
    shutil.copy2(warc, outside)
    warc.unlink()
    warc.symlink_to(outside)
    out = tmp_path / "r.html"
    proc: Any = broken.prov("report", "--case", str(broken.case), "-o", str(out),
                            "--allow-failed")
    assert proc.returncode == EXIT_INTEGRITY, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "data-00000.warc.gz: a symbolic link, not a regular file" in proc.stderr
    assert not out.exists() and not out.with_name("r.html.partial").exists()


def _metadata_member(uri: str, body: bytes, concurrent: str | None = None) -> bytes:
    """One gzip member holding a JSON metadata record, as an attacker would append it."""
    head = ["WARC/1.1", "WARC-Type: metadata", f"WARC-Record-ID: <urn:uuid:{uuid.uuid4()}>",
            "WARC-Date: 2026-01-01T00:00:00Z", f"WARC-Target-URI: {uri}",
            "Content-Type: application/json", f"Content-Length: {len(body)}"]
    if concurrent:
        head.append(f"WARC-Concurrent-To: {concurrent}")
    return gzip.compress("\r\n".join(head).encode() + b"\r\n\r\n" + body + b"\r\n\r\n")


def test_hostile_json_records_in_a_failed_case_are_left_out(built: Built, tmp_path: Path) -> None:
    """A case exported with --allow-failed may hold any record: JSON nested 10,000 deep in
    the seed list and in an exchange's metadata, and metadata of the wrong shape, were parsed
    with json.loads (RecursionError: exit 1, no report). Now they are read by the bounded
    loader and left out; the report and the WACZ are written and say the case failed."""
    broken = built.clone(tmp_path / "broken")
    folder = next(broken.case.glob(f"captures/*/*/*/{built.synthetic_id}"))
    warc = folder / "data-00000.warc.gz"
    deep = b"[" * 10_000 + b"]" * 10_000
    seeds = _metadata_member(f"urn:prov:seeds:{built.synthetic_id}", deep)
    response_id = "<urn:uuid:00000000-0000-4000-8000-000000000000>"
    warc.write_bytes(seeds + warc.read_bytes()
                     + _metadata_member(SHOT_URL, deep, concurrent=response_id)
                     + _metadata_member(SHOT_URL, b'{"tls": ["not", "an", "object"]}',
                                        concurrent=response_id)
                     + _metadata_member("http://127.0.0.1/failed", b"[1, 2]"))
    out = tmp_path / "r.html"
    proc: Any = broken.prov("report", "--case", str(broken.case), "-o", str(out))
    assert proc.returncode == EXIT_INTEGRITY and "fails verification" in proc.stderr
    proc = broken.prov("report", "--case", str(broken.case), "-o", str(out), "--allow-failed")
    assert proc.returncode == EXIT_OK and "Traceback" not in proc.stderr, proc.stderr
    html = out.read_text()
    assert html.index("FAILED verification") < html.index("How to re-verify")
    assert "file.digest" in html or "data-00000.warc.gz" in html
    proc = broken.prov("export", "wacz", "--case", str(broken.case), "-o",
                       str(tmp_path / "x.wacz"), "--allow-failed")
    assert proc.returncode == EXIT_OK and "Traceback" not in proc.stderr, proc.stderr
