"""What an unchanged page costs a watched case: N scheduled snapshots of a 1 MB page.

    python bench/schedule.py                       # 100 snapshots, one local TSA
    python bench/schedule.py --snapshots 20 --tsa 0 --page-mb 4 --image-kb 0

A throwaway case watches one source with ``requisites = true``: an HTML page of 1 MiB (words
drawn Zipf-like from a made-up vocabulary, so it compresses about as real prose does, ~3.5:1)
with its requisites (a 64 KiB stylesheet, a 128 KiB script and two 256 KiB images of random
bytes, incompressible as JPEG and PNG data are), served by a local HTTP server.
``prov schedule run --all`` is run N times (``provenance.watch.schedule.run``, in this process),
stamped by ``--tsa`` local RFC 3161 authorities (``tests/support/tsa.py``). Nothing changes between
runs, so every snapshot after the first is five revisit records.

Reported: the WARC bytes of the first capture and of all N, and their ratio (the issue's bar:
< 2x); per snapshot after the first, the bytes of each kind of file it adds: WARC, CDXJ
index, seal, seal tokens, custody log lines, checkpoint and checkpoint tokens. Figures to read,
never assertions (STYLE.md: benchmarks live in bench/).

An unchanged snapshot still holds, per URL, a request, a revisit and a metadata record: about
1.5 KB of WARC, nearly all of it ids and digests that do not compress (one gzip member per
record), plus 0.8 KB of warcinfo and seed list per capture. So the ratio depends on how big
the first capture is: for a page of 1 MiB of HTML alone (``--image-kb 0``) it is about 3x.

Results on the development machine (2 shared vCPUs, heavily loaded; 1 local TSA)::

    page and requisites 1769562 bytes (a.png 262144, app.js 131072, b.png 262144,
    index.html 1048666, style.css 65536); 100 snapshots, 1 TSA(s)
    WARC bytes: first capture 913761, all 100 captures 1745076 (1.910x the first; the bar is < 2x)
    time per snapshot: first 3.00 s, then median 2.26 s
    bytes per snapshot          first   each later
      warc                     913761         8397
      cdxj                       1331         1320
      seal                       1380         1380
      seal tokens                1002         1002
      log lines                  2866         2872
      checkpoints                 239          240
      checkpoint tokens          1001         1002
      certs                         0            0
      state                      5202          405
      all but WARC, state                     7817
      everything               926782        16619
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))

from provenance import api
from provenance.base import timefmt
from provenance.cli.demo import serve_site
from provenance.custody.case import Case
from provenance.custody.stamping import Stamper
from provenance.signing.keys import SigningKey
from provenance.watch import schedule


def _vocabulary(rng: random.Random, size: int = 4000) -> list[str]:
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    weights = [12, 9, 8, 7, 7, 6, 6, 6, 5, 4, 4, 3, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1]
    return ["".join(rng.choices(letters, weights, k=rng.randint(2, 10))) for _ in range(size)]


def _prose(rng: random.Random, words: list[str], size: int) -> str:
    """Text that compresses about as well as real prose (Zipf-distributed words)."""
    ranks = [1 / (n + 1) for n in range(len(words))]
    out, length = [], 0
    while length < size:
        sentence = " ".join(rng.choices(words, ranks, k=rng.randint(8, 30))).capitalize()
        out.append(f"<p>{sentence}.</p>\n")
        length += len(out[-1])
    return "".join(out)


def build_site(folder: Path, html_bytes: int, image_bytes: int, seed: int = 1) -> None:
    """An HTML page of ``html_bytes`` and its requisites: a 64 KiB stylesheet, a 128 KiB
    script and two images of ``image_bytes`` (incompressible, as JPEG and PNG data are)."""
    rng = random.Random(seed)
    words = _vocabulary(rng)
    folder.mkdir(parents=True)
    css = "".join(f".c{i} {{ color: #{rng.randrange(1 << 24):06x}; margin: {i % 9}px }}\n"
                  for i in range(3000))[: 64 << 10]
    script = "".join(f"function {w}{i}(a) {{ return a + {i}; }}\n"
                     for i, w in enumerate(rng.choices(words, k=4000)))[: 128 << 10]
    (folder / "style.css").write_text(css)
    (folder / "app.js").write_text(script)
    images = "".join(f'<img src="{n}.png">' for n in "ab") if image_bytes else ""
    head = ('<!DOCTYPE html><html><head><meta charset=utf-8><title>Watched page</title>'
            '<link rel="stylesheet" href="style.css"><script src="app.js"></script></head>'
            f"<body><h1>Watched page</h1>{images}")
    body = _prose(rng, words, max(0, html_bytes - len(head) - 14))
    (folder / "index.html").write_text(head + body + "</body></html>")
    for name in ("a.png", "b.png") if image_bytes else ():
        (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n" + rng.randbytes(image_bytes - 8))


def sizes(case: Path) -> dict[str, int]:
    """Bytes of each kind of file in the case."""
    out = {"warc": 0, "cdxj": 0, "seal": 0, "seal tokens": 0, "log lines": 0,
           "checkpoints": 0, "checkpoint tokens": 0, "certs": 0, "state": 0}
    for path in case.rglob("*"):
        if not path.is_file():
            continue
        rel, size = path.relative_to(case).as_posix(), path.stat().st_size
        if rel.startswith("captures/"):
            kind = ("warc" if rel.endswith(".warc.gz") else "cdxj" if rel.endswith(".cdxj")
                    else "seal tokens" if rel.endswith(".tsr") else "seal")
        elif rel == "custody/log.jsonl":
            kind = "log lines"
        elif rel.startswith("custody/checkpoints/"):
            kind = "checkpoint tokens" if rel.endswith(".tsr") else "checkpoints"
        elif rel.startswith(("certs/", "state/")):
            kind = rel.split("/", 1)[0]
        else:
            continue
        out[kind] += size
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshots", type=int, default=100)
    parser.add_argument("--page-mb", type=float, default=1.0, help="size of the HTML page")
    parser.add_argument("--image-kb", type=int, default=256,
                        help="size of each of its two images (0: no images)")
    parser.add_argument("--tsa", type=int, default=1, help="local TSAs to stamp with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="prov-bench-schedule-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        os.environ["PROV_HOME"] = str(work / "home")
        build_site(work / "site", int(args.page_mb * (1 << 20)), args.image_kb << 10)
        base = stack.enter_context(serve_site(work / "site"))
        urls = []
        if args.tsa:
            from tsa import LocalTSA

            urls = [stack.enter_context(LocalTSA()).url for _ in range(args.tsa)]
        stamper = Stamper(urls)
        key = SigningKey.generate("bench")
        case = api.init_case(work / "case", "bench", key, timefmt.utc_now(), stamper)
        sources = work / "sources.toml"
        sources.write_text(f'[[source]]\nurl = "{base}/index.html"\nrequisites = true\n')
        run(case, sources, key, stamper, args.snapshots)


def run(case: Case, sources: Path, key: SigningKey, stamper: Stamper, count: int) -> None:
    before = sizes(case.root)
    seconds, after_first = [], before
    for number in range(count):
        start = time.perf_counter()
        result = schedule.run(sources, case, key, stamper, everything=True)
        seconds.append(time.perf_counter() - start)
        assert result.exit_code == 0 and not result.changes, result.as_json()
        if number == 0:
            after_first = sizes(case.root)
    end = sizes(case.root)
    first = {k: after_first[k] - before[k] for k in end}
    rest = {k: (end[k] - after_first[k]) / max(1, count - 1) for k in end}
    total_warc = end["warc"]
    site = case.root.parent / "site"
    parts = ", ".join(f"{p.name} {p.stat().st_size}" for p in sorted(site.iterdir()))
    print(f"page and requisites {sum(p.stat().st_size for p in site.iterdir())} bytes "
          f"({parts}); {count} snapshots, {len(stamper.urls)} TSA(s)")
    print(f"WARC bytes: first capture {first['warc']}, all {count} captures {total_warc} "
          f"({total_warc / first['warc']:.3f}x the first; the bar is < 2x)")
    print(f"time per snapshot: first {seconds[0]:.2f} s, then median "
          f"{statistics.median(seconds[1:] or seconds):.2f} s")
    print(f"{'bytes per snapshot':22} {'first':>10} {'each later':>12}")
    for kind in end:
        print(f"  {kind:20} {first[kind]:>10} {rest[kind]:>12.0f}")
    overhead = sum(v for k, v in rest.items() if k not in ("warc", "state"))
    print(f"  {'all but WARC, state':20} {'':>10} {overhead:>12.0f}")
    print(f"  {'everything':20} {sum(first.values()):>10} {sum(rest.values()):>12.0f}")


if __name__ == "__main__":
    main()
