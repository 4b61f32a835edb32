"""A case in a bucket: snapshot, commit, verify and copy throughput against a local SeaweedFS.

    python bench/s3.py                      # 64 x 1 MiB pages and one 256 MiB body (a minute)
    python bench/s3.py --pages 256 --big 1024 --json

Starts `weed mini` (tests/support/s3server.py, the tests' own fixture class) and a local HTTP server
whose bodies are random bytes (incompressible, so the WARCs are as large as what was
fetched), then times, for a case on disk and the same work on a bucket case:

* snapshot: one capture of ``--pages`` pages of 1 MiB, and one capture of a ``--big`` MiB
  body (a multipart upload of 16 MiB parts), through ``api.snapshot``: fetch, WARC, seal,
  and for the bucket the push (WARCs, seal, entries, checkpoint) under the lease;
* commits: ``--commits`` one-entry appends (``note``), each its own lease, pull and push;
* verify: ``api.verify`` of the whole case (for the bucket: list versions, stream every
  object into a temp folder, the one engine, the lock findings), and its peak RSS;
* copy: ``prov copy`` of the disk case into a fresh bucket prefix, every object checked.

Everything runs on one machine over loopback: the figures bound prov's own costs (hashing,
signing, request overhead), not a network's. Figures to read, never assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))

from s3server import S3Server
from servers import Exchange, LocalServer, big_head

MiB = 1 << 20


def random_route(ex: Exchange) -> None:
    size = int(ex.request.query.get("size", [str(MiB)])[0])
    ex.write(big_head(size))
    while size > 0:
        piece = os.urandom(min(size, 256 << 10))
        size -= len(piece)
        ex.write(piece)


def timed(label: str, rows: list[dict[str, Any]], work: Callable[[], Any],
          volume: int = 0, count: int = 0) -> Any:
    start = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - start
    row: dict[str, Any] = {"what": label, "seconds": round(seconds, 3)}
    if volume:
        row["MiB/s"] = round(volume / MiB / seconds, 1)
    if count:
        row["per second"] = round(count / seconds, 1)
    rows.append(row)
    print(f"  {label:44} {seconds:8.2f} s" + (f"  {row['MiB/s']:7.1f} MiB/s" if volume else "")
          + (f"  {row['per second']:6.1f}/s" if count else ""), file=sys.stderr)
    return result


def bench_case(target: str, rows: list[dict[str, Any]], server: LocalServer,
               args: argparse.Namespace, key: Any) -> None:
    from provenance import api
    from provenance.base import timefmt
    from provenance.cli.render import verify_table
    from provenance.custody.log import CustodyLog, NewEntry

    where = "bucket" if target.startswith("s3://") else "disk"
    api.init_case(target if where == "bucket" else Path(target), "bench", key,
                  timefmt.utc_now())
    case = api.open_case(target)
    options = api.SnapshotOptions(max_body=4 << 30, concurrency=16, per_host=16)
    pages = [server.url(f"/random?size={MiB}&n={n}") for n in range(args.pages)]
    timed(f"{where}: snapshot {args.pages} x 1 MiB", rows,
          lambda: api.snapshot(case, pages, key, options), volume=args.pages * MiB)
    timed(f"{where}: snapshot 1 x {args.big} MiB", rows,
          lambda: api.snapshot(case, [server.url(f"/random?size={args.big * MiB}")], key,
                               options), volume=args.big * MiB)

    def commits() -> None:
        for n in range(args.commits):
            with case.lock():
                CustodyLog(case).append([NewEntry("note", (), {"n": n})], key, timefmt.utc_now())

    timed(f"{where}: {args.commits} one-entry commits", rows, commits, count=args.commits)
    size = (args.pages + args.big) * MiB
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = timed(f"{where}: verify", rows, lambda: api.verify(target, remember=False),
                   volume=size)
    rows[-1]["peak RSS MiB"] = round(max(before, resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss) / 1024, 1)
    assert report.counts["fail"] == 0, verify_table(report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=64, help="1 MiB pages in one capture")
    parser.add_argument("--big", type=int, default=256, help="MiB of the one large body")
    parser.add_argument("--commits", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="prov-bench-s3-") as tmp:
        work = Path(tmp)
        os.environ.update({"PROV_HOME": str(work / "home"), "PROV_KEY_PASSPHRASE": "bench"})
        (work / "weed").mkdir()
        s3 = S3Server(work / "weed").start()
        try:
            os.environ.update(s3.aws_env())
            from provenance import api
            from provenance.base import timefmt

            api.generate_key("default", b"bench")
            key = api.load_key("default")
            with LocalServer() as server:
                server.add_route("/random", random_route)
                bench_case(str(work / "case"), rows, server, args, key)
                bench_case(f"s3://{s3.new_bucket()}/bench", rows, server, args, key)
            destination = f"s3://{s3.new_bucket()}/copied"
            timed("copy: disk case into a bucket, checked", rows,
                  lambda: api.copy_case(str(work / "case"), destination, key,
                                        timefmt.utc_now(), retention={"mode": "compliance",
                                                                      "days": 1}),
                  volume=(args.pages + args.big) * MiB)
        finally:
            s3.stop()
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
