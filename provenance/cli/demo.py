"""``prov demo``: the whole cycle offline, in seconds, on the bundled demo site.

Serves ``seeds/demo-site`` on 127.0.0.1 (honouring its ``_redirects``), makes a throwaway
key and case, snapshots the site, verifies (all pass), alters one byte of an archived page
in a copy of the case, and verifies the copy to show exactly where the failure is.
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import os
import shutil
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import click

from archive.errors import ConfigError, ExitCode
from archive.warc.reader import WarcReader
from provenance import api
from provenance.base import timefmt
from provenance.cli.options import PathArg, _echo
from provenance.cli.render import summary_line, verify_table
from provenance.signing.keys import SigningKey

SITE = Path(__file__).resolve().parents[2] / "seeds" / "demo-site"
PAGES = ("/", "/old-article")  # with their requisites, and the pages the front page links to


def load_redirects(site: Path) -> dict[str, tuple[str, int]]:
    rules: dict[str, tuple[str, int]] = {}
    path = site / "_redirects"
    if path.is_file():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3:
                rules[parts[0]] = (parts[1], int(parts[2]))
    return rules


class _Handler(SimpleHTTPRequestHandler):
    redirects: ClassVar[dict[str, tuple[str, int]]] = {}

    def do_GET(self) -> None:
        rule = self.redirects.get(self.path.split("?", 1)[0])
        if rule is not None:
            self.send_response(rule[1])
            self.send_header("Location", rule[0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.rsplit("/", 1)[-1].startswith("_"):
            self.send_error(404)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_site(site: Path = SITE) -> Iterator[str]:
    """Serve ``site`` on 127.0.0.1 on a free port; yields the base URL."""
    if not (site / "index.html").is_file():
        raise ConfigError(f"demo site not found at {site}",
                          hint="run prov demo from a clone of the project (pip install -e .)")
    handler = type("DemoHandler", (_Handler,), {"redirects": load_redirects(site)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def tamper_one_byte(case_dir: Path, needle: bytes) -> tuple[str, int]:
    """Change one byte of the first record holding ``needle`` and re-gzip that member, so the
    file stays a valid WARC. Returns (file, member offset)."""
    for warc in sorted(case_dir.glob("captures/*/*/*/*/data-*.warc.gz")):
        data = warc.read_bytes()
        with open(warc, "rb") as fh:
            offsets = [head.offset for head in WarcReader(fh)]
        bounds = [*offsets, len(data)]
        for start, end in itertools.pairwise(bounds):
            record = gzip.decompress(data[start:end])
            at = record.find(needle)
            if at < 0 or not record.startswith(b"WARC/1.1") or b"WARC-Type: response" not in record:
                continue
            changed = bytearray(record)
            changed[at] ^= 0x20  # flip the case of one letter
            deflate = zlib.compressobj(6, zlib.DEFLATED, 31)
            member = deflate.compress(bytes(changed)) + deflate.flush()
            warc.write_bytes(data[:start] + member + data[end:])
            return warc.relative_to(case_dir).as_posix(), start
    raise RuntimeError("demo: no record to tamper with")


def run(directory: Path | None, echo: Callable[[str], None]) -> int:
    workdir = directory or Path(tempfile.mkdtemp(prefix="prov-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    old_home = os.environ.get("PROV_HOME")
    os.environ["PROV_HOME"] = str(workdir / "home")
    try:
        return _run(workdir, echo)
    finally:
        if old_home is None:
            os.environ.pop("PROV_HOME", None)
        else:
            os.environ["PROV_HOME"] = old_home


def _run(workdir: Path, echo: Callable[[str], None]) -> int:
    case_dir, copy_dir = workdir / "case", workdir / "case-tampered"
    if case_dir.exists() or copy_dir.exists():
        raise ConfigError(f"{workdir} already holds a demo; give an empty or new folder")
    echo(f"== prov demo in {workdir}")
    key = SigningKey.generate("demo")
    public = workdir / "demo-key.pub"
    public.write_bytes(key.public.pem())
    echo(f"1. throwaway key {key.key_id}")
    case = api.init_case(case_dir, "prov demo", key, timefmt.utc_now())
    echo(f"2. case {case.info.origin} at {case_dir}")
    with serve_site() as base:
        urls = [base + p for p in PAGES]
        echo(f"3. demo site served at {base}; snapshot of {', '.join(PAGES)} with "
             "--requisites --depth 1")
        result = api.snapshot(case, urls, key, api.SnapshotOptions(requisites=True, depth=1),
                              note="prov demo")
    for outcome in sorted(result.outcomes, key=lambda o: o.seed):
        echo("   " + summary_line(outcome).replace(base, ""))
    echo(f"   sealed capture {result.capture_id}")
    echo("4. prov verify case --trust demo-key.pub")
    report = api.verify(case_dir, [public])
    echo(_indent(verify_table(report)))
    shutil.copytree(case_dir, copy_dir)
    where, offset = tamper_one_byte(copy_dir, b"election")
    echo(f"5. one byte of the archived article changed in a copy: {where} (record at {offset})")
    echo("6. prov verify case-tampered --trust demo-key.pub")
    tampered = api.verify(copy_dir, [public])
    echo(_indent(verify_table(tampered)))
    good = report.exit_code == ExitCode.OK and tampered.exit_code == ExitCode.INTEGRITY
    echo("demo complete: the original verifies and the altered copy fails (exit 3)"
         if good else "demo FAILED: unexpected verification results")
    return 0 if good else 1


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines())


@click.command("demo")
@click.argument("directory", required=False, type=PathArg(file_okay=False, path_type=Path))
def demo(directory: Path | None) -> None:
    """Offline demonstration: serve the demo site, snapshot, seal, verify, tamper, verify."""
    raise SystemExit(run(directory, _echo))
