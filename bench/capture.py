"""Capture speed: prov against `wget --warc-file` on a local site with real latency.

    python bench/capture.py                    # 1,000 pages + 1,000 images, both tools, 1 GB RSS
    python bench/capture.py --pages 200 --skip-huge
    python bench/capture.py --profile          # also cProfile prov's capture in-process

The site is served by an asyncio server on 127.0.0.1 in a thread of this process: page ``i``
(``/p/i.html``) links to its children ``10i+1 .. 10i+10``, its parent and page 0, and shows one
image (``/img/i.png``), so ``--depth 3`` from page 0 reaches all 1,000 pages. Every response
waits 20 ms (``--latency``) before one ``write`` of head and body together, with TCP_NODELAY,
over kept-alive connections.

Each tool runs in a child process: wall time around it, CPU time (user + system) from
``wait4`` for that child alone, which includes its own reaped children (prov's parser
workers). Peak RSS is GNU time's ``%M`` (``/usr/bin/time``, between this process and the
tool): ``wait4``'s ``ru_maxrss`` of a child of this process would fold in this process's own
size at fork (Linux counts the pre-exec address space), about 30 MB, more than wget's whole
peak. Without ``/usr/bin/time`` the column falls back to that upper bound and says so. CPU
time of this process's server thread is not counted. Both WARCs are read back
with warcio: every page and image must be there exactly once as a response, and the server's
request log must show each URL fetched once.

Figures, not assertions (STYLE.md: benchmarks live in bench/); docs/BENCHMARKS.md holds them.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

HOST = "127.0.0.1"
PASSPHRASE = "bench-passphrase"
IMAGE = bytes(range(256)) * 16  # 4 KiB, served as image/png
HUGE_BLOCK = bytes(range(256)) * 256  # 64 KiB pieces of the single large response


# -- the site ----------------------------------------------------------------------------------


def page_body(i: int, pages: int) -> bytes:
    children = [c for c in range(10 * i + 1, 10 * i + 11) if c < pages]
    links = [*children, (i - 1) // 10 if i else 0, 0]
    anchors = "".join(f'<li><a href="/p/{c}.html">page {c}</a></li>' for c in links)
    filler = "<p>" + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20 + "</p>"
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Page {i}</title></head>'
            f'<body><h1>Page {i}</h1><img src="/img/{i}.png" alt=""><ul>{anchors}</ul>'
            f"{filler}</body></html>").encode()


def http_response(content_type: str, body: bytes) -> bytes:
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n")
    return head.encode() + body


class Site:
    """The asyncio server; ``requests`` counts every request path it answered."""

    def __init__(self, pages: int, latency: float, huge: int) -> None:
        self.pages = pages
        self.latency = latency
        self.huge = huge
        self.requests: Counter[str] = Counter()
        self.connections = 0
        self.responses = {f"/p/{i}.html": http_response("text/html; charset=utf-8",
                                                         page_body(i, pages))
                          for i in range(pages)}
        self.responses.update({f"/img/{i}.png": http_response("image/png", IMAGE)
                               for i in range(pages)})
        self.not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def start(self) -> Site:
        self._thread.start()
        self._ready.wait()
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._serve, HOST, 0,
                                                                   backlog=1024))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode("latin-1").split("?")[0]
                self.requests[path] += 1
                await asyncio.sleep(self.latency)
                if path == "/huge":
                    await self._huge(writer)
                else:
                    writer.write(self.responses.get(path, self.not_found))  # one write
                    await writer.drain()
                if b"connection: close" in head.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _huge(self, writer: asyncio.StreamWriter) -> None:
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                     f"Content-Length: {self.huge}\r\n\r\n".encode())
        left = self.huge
        while left > 0:
            piece = HUGE_BLOCK[:left]
            writer.write(piece)
            left -= len(piece)
            await writer.drain()


# -- running a tool ----------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    command: list[str]
    returncode: int
    wall: float
    cpu: float
    max_rss_mb: float
    stderr: str


GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run_child(name: str, command: list[str], env: dict[str, str], cwd: Path) -> Run:
    """Run ``command``; its wall time, CPU time (with its reaped children) and peak RSS (of
    its own process or its largest child, by GNU time: see the module docstring)."""
    errors = tempfile.TemporaryFile()  # noqa: SIM115
    peak = tempfile.NamedTemporaryFile(suffix=".rss")  # noqa: SIM115
    wrapped = [GNU_TIME, "-f", "%M", "-o", peak.name, *command] if GNU_TIME else command
    start = time.perf_counter()
    proc = subprocess.Popen(wrapped, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=errors)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    errors.seek(0)
    text = errors.read().decode(errors="replace")
    errors.close()
    # GNU time writes "Command exited with non-zero status N" first when the tool fails
    kib = int(peak.read().split()[-1]) if GNU_TIME else usage.ru_maxrss
    peak.close()
    return Run(name, command, proc.returncode, wall, usage.ru_utime + usage.ru_stime,
               kib / 1024, text)


def prov_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROV_")}
    env.update(PROV_HOME=str(home), PROV_KEY_PASSPHRASE=PASSPHRASE)
    return env


def prov_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from provenance.cli import main; main()", *args]


def make_case(work: Path) -> tuple[Path, dict[str, str]]:
    env = prov_env(work / "home")
    case = work / "case"
    for args in (("keys", "generate"), ("init", str(case), "--title", "bench")):
        subprocess.run(prov_command(*args), env=env, check=True, capture_output=True)
    return case, env


def warc_responses(paths: list[Path]) -> Counter[str]:
    """How many response records each target URI has, over all the files."""
    found: Counter[str] = Counter()
    for path in paths:
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh, no_record_parse=True):
                if record.rec_type == "response":
                    found[record.rec_headers.get_header("WARC-Target-URI")] += 1
    return found


def completeness(site: Site, found: Counter[str]) -> str:
    wanted = [site.url(p) for p in site.responses]
    missing = [u for u in wanted if found[u] == 0]
    twice = [u for u in wanted if found[u] > 1]
    extra = [u for u in found if u not in set(wanted)]
    refetched = [p for p, n in site.requests.items() if n > 1]
    return (f"{len(wanted) - len(missing)}/{len(wanted)} URLs in the WARC, "
            f"{len(missing)} missing, {len(twice)} twice, {len(extra)} other, "
            f"{len(refetched)} fetched more than once, {site.connections} connections")


def capture_with_wget(site: Site, work: Path) -> tuple[Run, str]:
    out = work / "wget"
    out.mkdir()
    command = ["wget", "--warc-file=site", "--recursive", "--level=inf", "--page-requisites",
               "--no-verbose", "-e", "robots=off", "--directory-prefix=files",
               site.url("/p/0.html")]
    site.requests.clear()
    site.connections = 0
    run = run_child("wget", command, dict(os.environ), out)
    return run, completeness(site, warc_responses([out / "site.warc.gz"]))


def capture_with_prov(site: Site, work: Path, depth: int, per_host: int) -> tuple[Run, str]:
    case, env = make_case(work / "prov")
    args = ["snapshot", "--case", str(case), "--requisites", "--depth", str(depth),
            "--per-host", str(per_host), "--concurrency", str(per_host), "--quiet",
            site.url("/p/0.html")]
    site.requests.clear()
    site.connections = 0
    run = run_child("prov", prov_command(*args), env, work)
    run.command = ["prov", *args]
    return run, completeness(site, warc_responses(sorted(case.glob("captures/*/*/*/*/*.warc.gz"))))


def capture_huge(site: Site, work: Path) -> Run:
    case, env = make_case(work / "huge")
    args = ["snapshot", "--case", str(case), "--quiet", "--timeout", "600", site.url("/huge")]
    run = run_child("prov 1 GB", prov_command(*args), env, work)
    run.command = ["prov", *args]
    return run


def profile_prov(site: Site, work: Path, depth: int, per_host: int) -> None:
    """cProfile prov's capture in this process (the parser workers are not profiled)."""
    from provenance import api

    case, env = make_case(work / "profiled")
    os.environ.update(PROV_HOME=env["PROV_HOME"], PROV_KEY_PASSPHRASE=PASSPHRASE)
    key = api.load_key("default")
    options = api.SnapshotOptions(requisites=True, depth=depth, per_host=per_host,
                                  concurrency=per_host)
    opened = api.open_case(str(case))
    site.requests.clear()
    profiler = cProfile.Profile()
    profiler.enable()
    api.snapshot(opened, [site.url("/p/0.html")], key, options)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


# -- report ------------------------------------------------------------------------------------


def row(run: Run, urls: int, check: str) -> str:
    return (f"| {run.name} | {run.wall:.2f} | {run.cpu:.2f} | {1000 * run.cpu / urls:.3f} | "
            f"{run.max_rss_mb:.0f} | {run.returncode} | {check} |")


def machine() -> str:
    model = "unknown"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"nproc {os.cpu_count()}, CPU {model!r}, Python {sys.version.split()[0]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.020)
    parser.add_argument("--per-host", type=int, default=32)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--huge", type=int, default=1_000_000_000, help="bytes of /huge")
    parser.add_argument("--repeat", type=int, default=3,
                        help="prov runs (the median is compared; wget runs once)")
    parser.add_argument("--skip-wget", action="store_true")
    parser.add_argument("--skip-huge", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_wget and shutil.which("wget") is None:
        parser.error("wget not found: apt-get install -y wget (or --skip-wget)")
    site = Site(args.pages, args.latency, args.huge).start()
    urls = 2 * args.pages
    print(f"# {machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"# site: {args.pages} pages + {args.pages} images = {urls} URLs, "
          f"{args.latency * 1000:g} ms per response, {site.url('/p/0.html')}")
    print("# peak RSS: GNU time %M of each tool" if GNU_TIME else
          "# peak RSS: wait4 ru_maxrss, an upper bound (no /usr/bin/time): it includes this "
          "process's size at fork")
    with tempfile.TemporaryDirectory(prefix="bench-capture-") as tmp:
        work = Path(tmp)
        runs: list[tuple[Run, str]] = []
        if not args.skip_wget:
            runs.append(capture_with_wget(site, work))
        provs = sorted((capture_with_prov(site, work / f"run{i}", args.depth, args.per_host)
                        for i in range(max(1, args.repeat))), key=lambda r: r[0].wall)
        runs.append(provs[len(provs) // 2])
        print(f"# prov wall times: {', '.join(f'{r.wall:.2f}' for r, _ in provs)} s "
              f"(median below); load average {os.getloadavg()[0]:.2f}")
        print("\n| tool | wall s | CPU s | CPU ms/URL | peak RSS MB | exit | WARC check |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for run, check in runs:
            print(row(run, urls, check))
        for run, _ in runs:
            print(f"# {run.name}: {' '.join(run.command)}")
            if run.returncode:
                print(f"# {run.name} stderr: {run.stderr[-2000:]}")
        if len(runs) == 2:
            (wget, _), (prov, _) = runs
            print(f"\nwall: prov {wget.wall / prov.wall:.1f}x faster than wget "
                  f"(target >= 15x); CPU per URL: prov {prov.cpu / wget.cpu:.2f}x wget's "
                  "(target <= 2x)")
        if args.profile:
            profile_prov(site, work, args.depth, args.per_host)
        if not args.skip_huge:
            huge = capture_huge(site, work)
            print(f"\none {args.huge / 1e9:g} GB response: wall {huge.wall:.1f} s, "
                  f"CPU {huge.cpu:.1f} s, peak RSS {huge.max_rss_mb:.0f} MB, "
                  f"exit {huge.returncode}")
            print(f"# {' '.join(huge.command)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
