"""Verification speed: ``prov verify`` and ``prov verify-warc`` beside FastWARC and warcio.

    python bench/verify.py                      # every shape, ~600 MB of WARC (a few minutes)
    python bench/verify.py --shape small        # only 20,000 responses of 10 KB
    python bench/verify.py --shape tiny         # only 300,000 responses of 100 bytes
    python bench/verify.py --huge 10            # also a 10 GB case: time and peak RSS (slow)
    python bench/verify.py --keep DIR           # generate into DIR and keep it
    python bench/verify.py --memory 1000000 3000000   # verify-warc's RSS on tiny records
    python bench/verify.py --captures 10000     # only: one case of 10,000 small captures

Each shape is written once, with prov's own writer (one gzip member per record, sha256
digests), as a prov case: ``init``, one capture sealed, indexed (CDXJ) and logged, exactly as
``prov snapshot`` commits one. Its WARC file is also the plain file the other tools check, so
every tool reads the same bytes:

* ``prov verify CASE --trust KEY.pub --no-remember`` (seal, records root, log, index);
* ``prov verify-warc FILE`` (every block and payload digest, headers, ids);
* ``fastwarc check FILE`` (block digests; without ``-p``, as DESIGN.md says);
* ``fastwarc check -p FILE`` (block and payload digests: the same work as verify-warc);
* ``warcio check FILE`` (block and payload digests);
* ``prov verify --fixity CASE`` beside the machine's SHA-256 limit: every file of the case
  hashed whole with hashlib, one process per core, nothing else (the ratio is the share of
  that limit fixity reaches; ``--fixity-only`` runs just these two, ``--warc-mb`` cuts the
  capture into several WARC files so that every core has a file to hash).

``--captures N`` instead writes one case of N small captures, each as ``prov schedule run``
commits one (three responses of 4 KB, its own WARC, CDXJ index, seal and log entry), and
times ``prov verify`` on the whole case once: time per capture and peak RSS, to show any
cost paid per capture (a process pool, a log read) and any memory that grows with them.

Bodies alternate between text-like (compresses about 3:1) and random bytes (as images do).
The commands run in turn, ``--repeat`` rounds after one warm-up (the page cache is warm for
all), so a shared machine's load falls on all of them alike; the best wall time counts. MB/s
is of uncompressed record bytes; "per core" divides by CPU seconds (user + system, children
included) instead of wall seconds. Peak RSS is ``wait4``'s for the
command and its children. Figures to read, never assertions (STYLE.md).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from archive.http.crawl import new_record_id
from archive.warc.cdxj import write_index
from archive.warc.writer import Block, Record, WarcWriter
from provenance import api
from provenance.base import ids, timefmt
from provenance.capture.snapshot import (
    INDEX_NAME,
    SEAL_NAME,
    CaptureResult,
    build_seal,
    capture_dir_for,
    capture_entries,
    log_capture,
    warcinfo_factory,
)
from provenance.custody.case import Case
from provenance.custody.log import CustodyLog, NewEntry
from provenance.custody.stamping import Stamper
from provenance.signing.dsse import sign_envelope
from provenance.signing.keys import SigningKey
from provenance.signing.statements import IN_TOTO_PAYLOAD, Subject

# large: 1 MB bodies; small: 10 KB; tiny: 100 bytes, where the cost per record is all there is
SHAPES = {"large": (200, 1 << 20), "small": (20_000, 10 * 1024), "tiny": (300_000, 100)}
WORDS = (b"evidence court archive record the of and a to in election ballot seal verify "
         b"custody capture provenance source page article image script style news").split()


@dataclass
class Generated:
    case: Path
    warc: Path
    public: Path
    uncompressed: int
    records: int


def _text_pool(rng: random.Random, size: int) -> bytes:
    out = bytearray()
    while len(out) < size:
        out += b" ".join(rng.choices(WORDS, k=4096)) + b"\n"
    return bytes(out[:size])


def iter_responses(count: int, size: int, seed: int = 8, pool: bytes | None = None,
                   prefix: str = "") -> Iterator[tuple[str, bytes, bytes]]:
    """(url, HTTP head, body) of ``count`` responses with ``size``-byte bodies; text bodies
    are cut from ``pool`` (8 MB of words made from ``seed`` when not given)."""
    rng = random.Random(seed)
    pool = pool or _text_pool(rng, 8 << 20)
    for i in range(count):
        if i % 2:
            body = rng.randbytes(size)
        else:
            start = rng.randrange(len(pool) - size)
            body = pool[start:start + size]
        kind = "image/png" if i % 2 else "text/html"
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {size}\r\n"
                "Server: bench\r\n\r\n").encode()
        yield f"http://bench.example/{prefix}{i:08d}", head, body


def write_capture(case_path: Path, key: SigningKey, responses: Iterator[tuple[str, bytes, bytes]],
                  warc_size: int = 1 << 30, copies: int = 1,
                  pending: list[NewEntry] | None = None, case: Case | None = None
                  ) -> CaptureResult:
    """Commit one capture of ``responses`` to the case, as ``prov snapshot`` does. With
    ``copies`` > 1 the first WARC is copied that many times (a big case, written quickly;
    sealed without a CDXJ index, which verify does not require). With ``pending`` its log
    entries go there instead, for the caller to append many at once (the same bytes, fewer
    fsyncs)."""
    case = case or api.open_case(str(case_path))
    started = timefmt.utc_now()
    capture_id = ids.uuid7(started)
    relative = capture_dir_for(capture_id, started)
    partial = case.partial_dir / capture_id
    partial.mkdir(parents=True)
    writer = WarcWriter(partial, warcinfo=warcinfo_factory(capture_id, timefmt.utc_now),
                        max_file_size=warc_size)
    for url, head, body in responses:
        block = Block.of(head + body, payload_offset=len(head))
        writer.write_group([Record("response", new_record_id(), started, block,
                                   [("WARC-Target-URI", url)],
                                   content_type="application/http;msgtype=response")], url)
    result = CaptureResult(capture_id, relative, [], writer.close())
    extra = []
    if copies > 1:
        first = result.files[0]
        for i in range(1, copies):
            name = f"data-{i:05d}.warc.gz"
            shutil.copyfile(partial / first.name, partial / name)
            result.files.append(replace(first, name=name))
    else:
        index = write_index(partial, [f.name for f in result.files], INDEX_NAME)
        extra = [Subject(INDEX_NAME, _sha256(index))]
    seal = build_seal(capture_id, relative, started, timefmt.utc_now(), result.files, key, None,
                      extra=extra, case_id=case.info.id)
    (partial / SEAL_NAME).write_bytes(sign_envelope(IN_TOTO_PAYLOAD, seal.payload(), key))
    final = case.root / relative
    final.parent.mkdir(parents=True, exist_ok=True)
    os.rename(partial, final)
    if pending is not None:
        pending += capture_entries(case, final, result, [])
    else:
        log_capture(case, final, result, key, timefmt.utc_now(), Stamper([]), [])
    return result


def _sha256(path: Path) -> bytes:
    from provenance.base.digests import sha256_file

    return sha256_file(path)


def generate(work: Path, name: str, count: int, size: int, warc_size: int = 1 << 30,
             copies: int = 1) -> Generated:
    key = SigningKey.generate("bench")
    case_path = work / f"case-{name}"
    api.init_case(case_path, f"bench {name}", key, timefmt.utc_now())
    public = work / f"{name}.pub"
    public.write_bytes(key.public.pem())
    result = write_capture(case_path, key, iter_responses(count, size), warc_size, copies)
    files = sorted(case_path.joinpath(result.capture_dir).glob("*.warc.gz"))
    return Generated(case_path, files[0], public, _uncompressed(files[:1]) * copies,
                     count * copies)


def _uncompressed(files: list[Path]) -> int:
    total = 0
    for path in files:
        with path.open("rb") as fh:
            zobj = zlib.decompressobj(31)
            while chunk := fh.read(1 << 20):
                while chunk:
                    total += len(zobj.decompress(chunk))
                    if zobj.eof:
                        chunk = zobj.unused_data
                        zobj = zlib.decompressobj(31)
                    else:
                        chunk = b""
    return total


@dataclass
class Timing:
    label: str
    wall: float
    cpu: float
    rss_mb: float
    code: int
    main_mb: float = 0.0  # the main process alone


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its descendants, now (shared pages counted in each)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(status.split("VmRSS:")[1].split()[0]) * 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += map(int, (task / "children").read_text().split())
        except (OSError, IndexError, ValueError):
            continue
    return total


MAIN_PEAK: dict[int, int] = {}  # pid -> peak RSS of that process alone, bytes


def _wait(pid: int) -> tuple[int, os.struct_rusage, int]:
    """Wait for ``pid``, sampling its tree's RSS every 50 ms: (status, rusage, peak bytes).
    The peak of ``pid`` alone (the main process, without its workers) goes to MAIN_PEAK."""
    peak = 0
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage, peak
        peak = max(peak, _tree_rss(pid))
        try:
            status_text = Path(f"/proc/{pid}/status").read_text()
            own = int(status_text.split("VmRSS:")[1].split()[0]) * 1024
            MAIN_PEAK[pid] = max(MAIN_PEAK.get(pid, 0), own)
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(0.05)


def run(label: str, argv: list[str], repeat: int) -> Timing:
    """Best of ``repeat`` runs after a warm-up (``repeat`` 0: the one run); CPU and peak RSS
    (whole process tree, sampled; ``ru_maxrss`` would count this benchmark's own memory,
    inherited at fork) of that run."""
    best: Timing | None = None
    for attempt in range(repeat + 1):
        t0 = time.perf_counter()
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors,
                                    stdin=subprocess.DEVNULL)
            status, usage, peak = _wait(proc.pid)
            wall = time.perf_counter() - t0
            errors.seek(0)
            err = errors.read().decode(errors="replace")
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code not in (0,) and attempt == 0:
            print(f"  {label}: exit {code}: {err.strip()[:300]}", file=sys.stderr)
        timing = Timing(label, wall, usage.ru_utime + usage.ru_stime, peak / 2**20, code,
                        MAIN_PEAK.get(proc.pid, 0) / 2**20)
        if (attempt or not repeat) and (best is None or wall < best.wall):
            best = timing
    assert best is not None
    return best


def prov(*args: str | Path) -> list[str]:
    script = Path(sys.executable).with_name("prov")
    return [str(script) if script.exists() else "prov", *map(str, args)]


def tool(name: str) -> str:
    script = Path(sys.executable).with_name(name)
    return str(script) if script.exists() else name


# The machine's SHA-256 limit on a case's files: every file hashed whole, one process per core
# (SHA-256 cannot be split, so one big file keeps one core busy), nothing else done.
HASH_ALL = """
import hashlib, os, sys
from multiprocessing import get_context

def sha256(path):
    digest, buffer = hashlib.sha256(), bytearray(1 << 20)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as fh:
        while count := fh.readinto(buffer):
            digest.update(view[:count])
    return digest.hexdigest()

if __name__ == "__main__":
    files = sorted(os.path.join(d, n) for d, _, ns in os.walk(sys.argv[1]) for n in ns)
    files.sort(key=os.path.getsize, reverse=True)
    with get_context("fork").Pool(len(os.sched_getaffinity(0))) as pool:
        for line in pool.imap_unordered(sha256, files):
            pass
"""


def bench_fixity(gen: Generated, repeat: int, home: Path) -> list[Timing]:
    """``prov verify --fixity`` beside the machine's SHA-256 limit on the same files: the two
    run in turn, ``repeat`` rounds after a warm-up, so that both meet the same load on a shared
    machine; the best wall time of each counts."""
    os.environ["PROV_HOME"] = str(home)
    return in_turn({
        "prov verify --fixity": prov("verify", "--fixity", gen.case, "--trust", gen.public,
                                     "--no-remember", "--json"),
        "sha256, 1 proc/core": [sys.executable, "-c", HASH_ALL, str(gen.case)],
    }, repeat)


def in_turn(commands: dict[str, list[str]], repeat: int) -> list[Timing]:
    """Each command once per round, ``repeat`` rounds after a warm-up: on a shared machine
    the load falls on all of them alike; the best wall time of each counts."""
    best: dict[str, Timing] = {}
    for _ in range(max(1, repeat)):
        for label, argv in commands.items():
            timing = run(label, argv, 1 if label not in best else 0)  # first: a warm-up too
            if label not in best or timing.wall < best[label].wall:
                best[label] = timing
    return [best[label] for label in commands]


def print_fixity(gen: Generated, rows: list[Timing]) -> None:
    files = [p for p in gen.case.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files) / 1e6
    fixity, limit = rows
    print(f"fixity: {len(files)} files, {size:.0f} MB on disk (the case)")
    for r in rows:
        print(f"  {r.label:22} {r.wall:7.2f} s {size / r.wall:7.0f} MB/s "
              f"{r.cpu / r.wall:5.2f} cores {r.rss_mb:6.0f} MB RSS  exit {r.code}")
    print(f"  prov verify --fixity at {limit.wall / fixity.wall:.0%} of the SHA-256 limit "
          f"(target: 80 %), {limit.cpu / fixity.cpu:.0%} of its CPU time; load average "
          f"{os.getloadavg()}")


def bench_shape(gen: Generated, name: str, repeat: int, home: Path) -> list[Timing]:
    os.environ["PROV_HOME"] = str(home)
    return in_turn({
        "prov verify (case)": prov("verify", gen.case, "--trust", gen.public, "--no-remember",
                                   "--json"),
        "prov verify-warc": prov("verify-warc", gen.warc, "--json"),
        "fastwarc check": [tool("fastwarc"), "check", "-q", str(gen.warc)],
        "fastwarc check -p": [tool("fastwarc"), "check", "-q", "-p", str(gen.warc)],
        "warcio check": [tool("warcio"), "check", str(gen.warc)],
    }, repeat)


def print_table(name: str, gen: Generated, rows: list[Timing]) -> None:
    mb = gen.uncompressed / 1e6
    size = gen.warc.stat().st_size / 1e6
    print(f"\n{name}: {gen.records} responses, {mb:.0f} MB of records, "
          f"{size:.0f} MB gzipped")
    print(f"{'command':22} {'wall s':>7} {'MB/s':>7} {'cores':>5} {'MB/s/core':>9} "
          f"{'RSS MB':>6} {'exit':>4}  vs fastwarc  vs -p  vs warcio")
    by = {r.label: r for r in rows}
    for r in rows:
        cores = r.cpu / r.wall if r.wall else 0.0
        ratio_f = by["fastwarc check"].wall / r.wall
        ratio_p = by["fastwarc check -p"].wall / r.wall
        ratio_w = by["warcio check"].wall / r.wall
        print(f"{r.label:22} {r.wall:7.2f} {mb / r.wall:7.0f} {cores:5.2f} "
              f"{mb / max(r.cpu, 1e-9):9.0f} {r.rss_mb:6.0f} {r.code:4}  "
              f"{ratio_f:9.2f}x {ratio_p:5.2f}x {ratio_w:8.2f}x")
    print(f"load average (1, 5, 15 min) after: {os.getloadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--shape", choices=[*SHAPES, "all"], default="all")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=int, default=1, metavar="N",
                        help="N times as many responses per shape (fixed start-up costs fade).")
    parser.add_argument("--fixity-only", action="store_true",
                        help="Only `prov verify --fixity` beside the SHA-256 limit.")
    parser.add_argument("--warc-mb", type=int, default=1024, metavar="MB",
                        help="Roll over to a new WARC file at this size (several files: "
                        "every core hashes).")
    parser.add_argument("--huge", type=float, metavar="GB",
                        help="Also generate a case of this many GB and measure verify's RSS.")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="Work in DIR and keep it.")
    parser.add_argument("--memory", type=int, nargs="+", metavar="RECORDS",
                        help="Instead: verify-warc's time and peak RSS on one gzip WARC of "
                        "this many tiny records (each a response, an original for revisits).")
    parser.add_argument("--plain", action="store_true",
                        help="With --memory: an uncompressed WARC (faster to write).")
    parser.add_argument("--captures", type=int, metavar="N",
                        help="Instead: prov verify on one case of N small captures.")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="prov-bench-verify-"))
    work.mkdir(parents=True, exist_ok=True)
    home = work / "home"
    home.mkdir(exist_ok=True)
    try:
        print(f"cores: {os.cpu_count()}, python {sys.version.split()[0]}")
        if args.memory:
            for count in args.memory:
                memory(work, count, gz=not args.plain)
            return
        if args.captures:
            many(work, args.captures, home, args.repeat)
            return
        for name in (SHAPES if args.shape == "all" else [args.shape]):
            count, size = SHAPES[name]
            gen = generate(work, name, count * args.scale, size, args.warc_mb << 20)
            if not args.fixity_only:
                print_table(name, gen, bench_shape(gen, name, args.repeat, home))
            print_fixity(gen, bench_fixity(gen, args.repeat, home))
        if args.huge:
            huge(work, args.huge, home)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def write_tiny(path: Path, count: int, size: int = 100, gz: bool = True) -> int:
    """A WARC of ``count`` responses with ``size``-byte bodies, one gzip member each (or
    uncompressed: ``gz`` False, three times faster to write), written
    fast (not by prov's writer: millions of records), sha256 block and payload digests; every
    tenth record a revisit of the one before. Returns the uncompressed size."""
    import hashlib

    total = 0
    previous = b""
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
    with path.open("wb") as fh:
        for i in range(count):
            body = (b"%012d " % i) * (size // 13 + 1)
            body = body[:size]
            head = http % size
            rid = f"<urn:uuid:00000000-0000-4000-8000-{i:012x}>"
            uri = f"http://tiny.example/{i}"
            payload = f"sha256:{hashlib.sha256(body).hexdigest()}"
            if i % 10 == 9:  # a revisit of the record before: same body
                block = head
                extra = (f"WARC-Profile: http://netpreserve.org/warc/1.1/revisit/"
                         f"identical-payload-digest\r\nWARC-Refers-To: "
                         f"<urn:uuid:00000000-0000-4000-8000-{i - 1:012x}>\r\n")
                kind = "revisit"
                payload = f"sha256:{hashlib.sha256(previous).hexdigest()}"
            else:
                block, extra, kind, previous = head + body, "", "response", body
            header = (f"WARC/1.1\r\nWARC-Type: {kind}\r\nWARC-Record-ID: {rid}\r\n"
                      f"WARC-Date: 2024-03-04T12:00:00Z\r\nWARC-Target-URI: {uri}\r\n{extra}"
                      f"Content-Type: application/http;msgtype=response\r\n"
                      f"WARC-Block-Digest: sha256:{hashlib.sha256(block).hexdigest()}\r\n"
                      f"WARC-Payload-Digest: {payload}\r\n"
                      f"Content-Length: {len(block)}\r\n\r\n").encode()
            record = header + block + b"\r\n\r\n"
            total += len(record)
            if gz:
                z = zlib.compressobj(1, zlib.DEFLATED, 31)
                fh.write(z.compress(record) + z.flush())
            else:
                fh.write(record)
    return total


def memory(work: Path, count: int, gz: bool = True) -> None:
    """verify-warc on one file of ``count`` tiny records: wall time and peak RSS."""
    path = work / f"tiny-{count}.warc{'.gz' if gz else ''}"
    t0 = time.perf_counter()
    if path.exists():  # kept from an earlier run (--keep)
        size, made = (_uncompressed([path]) if gz else path.stat().st_size), 0.0
    else:
        size = write_tiny(path, count, gz=gz)
        made = time.perf_counter() - t0
    t = run("prov verify-warc", prov("verify-warc", path, "--json"), 0)
    print(f"{count} records ({size / 1e6:.0f} MB, {path.stat().st_size / 1e6:.0f} MB gzipped, "
          f"written in {made:.0f} s): verify-warc {t.wall:.1f} s, {t.cpu / t.wall:.2f} cores, "
          f"peak RSS {t.rss_mb:.0f} MB (process tree; main process {t.main_mb:.0f} MB), "
          f"exit {t.code}; load average "
          f"{os.getloadavg()[0]:.1f}")


def many(work: Path, captures: int, home: Path, repeat: int) -> None:
    """One case of ``captures`` small captures (kept with ``--keep``): verify's time per
    capture and peak RSS."""
    case_path, public = work / f"case-many-{captures}", work / f"many-{captures}.pub"
    t0 = time.perf_counter()
    if not case_path.exists():
        key = SigningKey.generate("bench")
        case = api.init_case(case_path, f"bench {captures} captures", key, timefmt.utc_now())
        public.write_bytes(key.public.pem())
        pending: list[NewEntry] = []
        pool = _text_pool(random.Random(8), 1 << 20)
        for i in range(captures):
            write_capture(case_path, key, iter_responses(3, 4096, i, pool, f"{i}/"),
                          pending=pending, case=case)
            if len(pending) >= 1000 or i + 1 == captures:  # one checkpoint per 1,000 captures
                with case.lock():
                    CustodyLog(case).append(pending, key, timefmt.utc_now())
                pending = []
    made = time.perf_counter() - t0
    os.environ["PROV_HOME"] = str(home)
    size = sum(p.stat().st_size for p in case_path.rglob("*.warc.gz")) / 1e6
    t = run("prov verify (case)", prov("verify", case_path, "--trust", public, "--no-remember",
                                       "--json"), min(repeat, 1))
    print(f"\n{captures} captures ({size:.0f} MB of WARC, written in {made:.0f} s): prov verify "
          f"{t.wall:.1f} s wall, {t.wall / captures * 1000:.2f} ms per capture, "
          f"{t.cpu / captures * 1000:.2f} CPU ms per capture, {t.cpu / t.wall:.2f} cores, "
          f"peak RSS {t.rss_mb:.0f} MB (process tree; main process {t.main_mb:.0f} MB), "
          f"exit {t.code}; load average {os.getloadavg()[0]:.1f}")


def huge(work: Path, gigabytes: float, home: Path) -> None:
    """A case of about ``gigabytes`` GB of records (1 MB responses) in 1 GB files (one file
    written, then copied): verify's time and peak RSS."""
    copies = max(1, round(gigabytes))
    gen = generate(work, "huge", int(gigabytes * 1000 / copies), 1 << 20, copies=copies)
    count = gen.records
    warcs = sorted(gen.warc.parent.glob("*.warc.gz"))
    size = sum(p.stat().st_size for p in warcs) / 1e9
    os.environ["PROV_HOME"] = str(home)
    t = run("prov verify (case)", prov("verify", gen.case, "--trust", gen.public,
                                       "--no-remember", "--json"), 0 + 1)
    print(f"\nhuge: {count} responses in {len(warcs)} files, {gen.uncompressed / 1e9:.1f} GB "
          f"of records, {size:.1f} GB gzipped: prov verify {t.wall:.1f} s, "
          f"{gen.uncompressed / 1e6 / t.wall:.0f} MB/s, {t.cpu / t.wall:.2f} cores, "
          f"peak RSS {t.rss_mb:.0f} MB, exit {t.code}")


if __name__ == "__main__":
    main()
