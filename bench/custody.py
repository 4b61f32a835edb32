"""Custody log at scale: bulk build, real appends, inclusion proofs and a full verify.

    python bench/custody.py                  # logs of 10^4 and 10^5 entries (a few minutes)
    python bench/custody.py --max 1000000    # and 10^6
    python bench/custody.py --profile verify # cProfile one phase at the largest size

For each size a fresh case is made in a temp dir and filled by ``CustodyLog.append`` with
``note`` entries, many per call (one fsync and one checkpoint per batch): the same bytes real
appends write. Then it times, on that log:

* appends: ``--appends`` separate one-entry appends, as commands do (lock, append, checkpoint);
* proofs: ``api.prove_entry`` and ``proofs.verify_inclusion_doc`` at ``--proofs`` random indexes;
* verify: ``api.verify(remember=False)`` in a child process, its wall time inside the child,
  its CPU time (workers included) and its own peak RSS (``VmHWM`` read by the child:
  ``wait4``'s ``ru_maxrss`` would fold in the size of this parent at fork time, which grows
  with the log it just built); and, just before,
  the same with ``jobs=1`` (every signature checked in the main process), side by side.

A bulk-built log has few checkpoint files; one built by real commands has one per command.
A second table times appends in a small case beside ``--checkpoint-files`` planted checkpoint
names (sizes above the log's, so the append never reads them), placed by the shard rule from
just above the sizes the appends reach: the append's own shard folder is full (1,000 names, as
in a long-lived case) and the rest spread over other shard folders.

Results are figures to read, never assertions (STYLE.md: benchmarks live in bench/).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provenance import api
from provenance.base import timefmt
from provenance.custody.case import Case
from provenance.custody.log import CustodyLog, NewEntry, checkpoint_path
from provenance.signing.keys import SigningKey
from provenance.signing.trust import Anchors
from provenance.verification.proofs import verify_inclusion_doc

VERIFY_CHILD = """
import json, os, sys, time
from pathlib import Path
from provenance import api
t0 = time.perf_counter()
report = api.verify(Path(sys.argv[1]), trust_files=[Path(sys.argv[2])], remember=False,
                    jobs=int(sys.argv[3]) or None)
seconds = time.perf_counter() - t0
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
times = os.times()
print(json.dumps({"seconds": seconds, "counts": report.counts, "hwm_kib": hwm,
                  "cpu": times.user + times.system + times.children_user + times.children_system,
                  "bad": [f.check for f in report.findings if f.status in ("fail", "warn")]}))
"""


@dataclass
class Row:
    size: int
    build_s: float
    append_mean_ms: float
    append_p99_ms: float
    prove_ms: float
    check_ms: float
    verify_s: float
    verify_mb: float
    verify_counts: dict[str, int]
    verify_cpu: float = 0.0
    serial_s: float = 0.0  # verify -j 1: every signature checked in the main process
    serial_cpu: float = 0.0


def bulk_build(case: Case, key: SigningKey, count: int, batch: int) -> None:
    """Append ``count`` note entries, ``batch`` per ``CustodyLog.append`` call."""
    log = CustodyLog(case)
    done = 0
    while done < count:
        n = min(batch, count - done)
        entries = [NewEntry("note", (), {"note": f"bulk entry {done + i}"}) for i in range(n)]
        with case.lock():
            log.append(entries, key, timefmt.utc_now())
        done += n


def time_appends(case: Case, key: SigningKey, count: int) -> list[float]:
    """Milliseconds of each one-entry append, lock included."""
    times = []
    for i in range(count):
        t0 = time.perf_counter()
        with case.lock():
            CustodyLog(case).append([NewEntry("note", (), {"note": f"append {i}"})], key,
                                    timefmt.utc_now())
        times.append((time.perf_counter() - t0) * 1000)
    return times


def time_proofs(case: Case, key: SigningKey, count: int, size: int,
                rng: random.Random) -> tuple[list[float], list[float]]:
    """Milliseconds to build, and to check, an inclusion proof at random indexes."""
    build, check = [], []
    for index in (rng.randrange(size) for _ in range(count)):
        t0 = time.perf_counter()
        doc = api.prove_entry(case, index, None)
        raw = json.dumps(doc).encode()
        t1 = time.perf_counter()
        anchors = Anchors.collect([], [key.public.key_id], target=case.root)
        result = verify_inclusion_doc(raw, anchors=anchors, held=None)
        t2 = time.perf_counter()
        assert result.index == index
        build.append((t1 - t0) * 1000)
        check.append((t2 - t1) * 1000)
    return build, check


def verify_in_child(case_path: Path, pub_path: Path, env: dict[str, str],
                    jobs: int = 0) -> tuple[dict[str, Any], float]:
    """Run verify in a fresh interpreter (``jobs`` 0: every core); its JSON summary, with its
    CPU seconds and its workers', and its own peak RSS (VmHWM) in MB."""
    proc = subprocess.Popen([sys.executable, "-c", VERIFY_CHILD, str(case_path), str(pub_path),
                             str(jobs)], env=env, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    out = proc.stdout.read()
    if proc.wait() != 0:
        raise RuntimeError(f"verify child exited {proc.returncode}")
    summary = json.loads(out)
    return summary, summary["hwm_kib"] / 1024


def time_with_checkpoint_files(work: Path, count: int, appends: int) -> float:
    """Mean ms of one-entry appends in a case beside ``count`` planted checkpoint names."""
    key = SigningKey.generate("bench")
    case = api.init_case(work / f"ckpt-{count}", "checkpoint files", key, timefmt.utc_now())
    first = 2 + appends  # init wrote size 1, the appends reach 1 + appends
    for size in range(first, first + count):
        path = checkpoint_path(case, size)
        path.parent.mkdir(exist_ok=True)
        path.touch()
    return statistics.fmean(time_appends(case, key, appends))


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def profile(label: str, fn: Callable[[], object], lines: int = 25) -> None:
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    print(f"\n--- cProfile: {label} (top {lines} by cumulative time) ---", file=sys.stderr)
    pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(lines)


def measure(size: int, args: argparse.Namespace, work: Path, env: dict[str, str],
            rng: random.Random, last: bool) -> Row:
    key = SigningKey.generate("bench")
    pub_path = work / f"bench-{size}.pub"
    pub_path.write_bytes(key.public.pem())
    case_path = work / f"case-{size}"
    case = api.init_case(case_path, f"bench {size}", key, timefmt.utc_now())
    t0 = time.perf_counter()
    bulk_build(case, key, size - 1, args.batch)  # init is entry 0
    build_s = time.perf_counter() - t0
    log_mb = case.log_path.stat().st_size / 1e6
    print(f"[{size}] built in {build_s:.1f} s ({log_mb:.0f} MB)", file=sys.stderr, flush=True)
    appends = time_appends(case, key, args.appends)
    proofs, checks = time_proofs(case, key, args.proofs, size, rng)
    serial, _ = verify_in_child(case_path, pub_path, env, 1)  # side by side: the same load
    summary, rss_mb = verify_in_child(case_path, pub_path, env)
    if summary["counts"]["fail"] or serial["counts"] != summary["counts"]:
        raise RuntimeError(f"verify failed on the benchmark log: {summary['bad']}")
    if last and args.profile:
        phases: dict[str, Callable[[], object]] = {
            "append": lambda: time_appends(case, key, 200),
            "prove": lambda: time_proofs(case, key, args.proofs, size, rng),
            "verify": lambda: api.verify(case_path, trust_files=[pub_path], remember=False),
        }
        profile(args.profile, phases[args.profile])
    return Row(size, build_s, statistics.fmean(appends), p99(appends),
               statistics.fmean(proofs), statistics.fmean(checks), summary["seconds"], rss_mb,
               summary["counts"], summary["cpu"], serial["seconds"], serial["cpu"])


def render(rows: list[Row], args: argparse.Namespace) -> str:
    head = ("| entries | bulk build s | append ms mean | append ms p99 | prove ms | "
            "check proof ms | verify -j 1 s (CPU s) | verify s (CPU s) | speed-up | "
            "verify peak RSS MB |")
    out = [head, "|" + "---:|" * 10]
    for r in rows:
        out.append(f"| {r.size:,} | {r.build_s:.1f} | {r.append_mean_ms:.2f} | "
                   f"{r.append_p99_ms:.2f} | {r.prove_ms:.2f} | {r.check_ms:.2f} | "
                   f"{r.serial_s:.1f} ({r.serial_cpu:.1f}) | {r.verify_s:.1f} "
                   f"({r.verify_cpu:.1f}) | {r.serial_s / r.verify_s:.2f}x | "
                   f"{r.verify_mb:.0f} |")
    out.append(f"\n(appends: {args.appends} one-entry appends after the bulk build, so verify "
               f"reads entries + {args.appends}; proofs: {args.proofs} random indexes; "
               f"bulk batches of {args.batch})")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max", type=int, default=100_000,
                        help="largest log size (sizes are 10^4, 10^5, 10^6 up to this)")
    parser.add_argument("--appends", type=int, default=1000)
    parser.add_argument("--proofs", type=int, default=100)
    parser.add_argument("--batch", type=int, default=50_000,
                        help="entries per bulk append call (bounds memory)")
    parser.add_argument("--profile", choices=["append", "prove", "verify"],
                        help="cProfile this phase at the largest size (to stderr)")
    parser.add_argument("--checkpoint-files", type=int, nargs="*",
                        default=[100, 10_000, 100_000], metavar="N")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sizes = [n for n in (10_000, 100_000, 1_000_000) if n <= args.max]
    rng = random.Random(args.seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="prov-bench-") as tmp:
        work = Path(tmp)
        home = work / "prov-home"
        home.mkdir()
        os.environ["PROV_HOME"] = str(home)  # seen checkpoints and trust stay in the temp dir
        env = {**os.environ, "PROV_HOME": str(home)}
        for size in sizes:
            rows.append(measure(size, args, work, env, rng, size == sizes[-1]))
            print(render(rows[-1:], args).splitlines()[2], file=sys.stderr, flush=True)
        ckpt = [(n, time_with_checkpoint_files(work, n, 20)) for n in args.checkpoint_files]
    print(render(rows, args))
    if ckpt:
        print("\n| checkpoint files | append ms mean (20 appends) |\n|---:|---:|")
        for n, ms in ckpt:
            print(f"| {n:,} | {ms:.1f} |")


if __name__ == "__main__":
    main()
