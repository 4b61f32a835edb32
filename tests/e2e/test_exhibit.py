"""`prov report`: one self-contained HTML exhibit, rendered in headless Chromium with every
network request refused; the embedded screenshot decodes and is not blank, nor is the
rendered report; facts per capture come from the sealed records; the report is a logged
custody event; a case that fails verification is refused unless --allow-failed, and then the
report says so first.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from exports import SHOT_URL, Built, build, entries
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
    assert "<script" not in html and not re.search(r'(src|href)="(?!data:)', html)
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
