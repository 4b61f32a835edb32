"""Browser capture throughput: pages per minute on the test site (tests/support/browsersite.py).

    python bench/browser.py                                  # 12 pages at --concurrency 1 and 4
    python bench/browser.py --pages 24 --concurrency 1 2 4 --scroll-steps 6

The site (the single-page app of the tests: fetch(), an infinite list, lazy images) is served
over TLS on 127.0.0.1 by tests/support/servers.py, with the test CA given as --ca-file. Each
configuration is one ``archive.browser.capture.BrowserCapturer`` run — one Chromium, launch and
shutdown included — into a WARC in a temp dir; the pages are ``/app?n=<i>`` (distinct URLs,
one app). Sealing, stamping and logging are left out: they cost the same as for any capture.

Results are figures to read, never assertions (STYLE.md: benchmarks live in bench/).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))

import browsersite
from servers import LocalServer
from testca import TestCA

from archive.browser.capture import BrowserCapturer, BrowserOptions
from archive.browser.page import PageLimits
from archive.http import recorder
from archive.http.crawl import CaptureOptions
from archive.warc.writer import WarcWriter
from provenance.capture.snapshot import warcinfo_factory


def now() -> datetime:
    return datetime.now(UTC)


def run(site: LocalServer, root: Path, pages: int, concurrency: int, steps: int) -> dict:
    urls = [site.url(f"/app?n={i}") for i in range(pages)]
    with tempfile.TemporaryDirectory(prefix="prov-bench-browser-") as tmp:
        writer = WarcWriter(Path(tmp), warcinfo=warcinfo_factory("bench", now))
        capturer = BrowserCapturer(
            writer, CaptureOptions(ca_file=root, limits=recorder.FetchLimits(timeout=30)),
            BrowserOptions(page=PageLimits(scroll_steps=steps), concurrency=concurrency),
            capture_id="bench", now=now)
        start = time.perf_counter()
        outcomes = asyncio.run(capturer.capture(urls))
        seconds = time.perf_counter() - start
        files = writer.close()
    recorded = [int(o.note.split()[1]) for o in outcomes if o.note]
    return {
        "concurrency": concurrency, "pages": pages, "scrollSteps": steps,
        "seconds": round(seconds, 2), "pagesPerMinute": round(pages / seconds * 60, 1),
        "ok": sum(o.ok for o in outcomes),
        "pageSecondsMedian": round(statistics.median(o.seconds for o in outcomes), 2),
        "requestsPerPage": round(statistics.mean(recorded), 1) if recorded else 0,
        "warcMB": round(sum(f.size for f in files) / 1e6, 2),
    }


def machine() -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, "
            f"CPython {platform.python_version()}, load {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--scroll-steps", type=int, default=6)
    args = parser.parse_args()
    ca = TestCA()
    print(f"# {machine()}; {now():%Y-%m-%d %H:%M} UTC", flush=True)
    with tempfile.TemporaryDirectory(prefix="prov-bench-ca-") as tmp, \
            LocalServer(tls=ca) as site:
        root = ca.write_root(Path(tmp) / "root.pem")
        browsersite.install(site)
        for concurrency in args.concurrency:
            print(json.dumps(run(site, root, args.pages, concurrency, args.scroll_steps)),
                  flush=True)


if __name__ == "__main__":
    main()
