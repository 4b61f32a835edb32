"""Replaying a case's or a WACZ's captures in pywb (Webrecorder's Python wayback, 2.10).

Specs: pywb 2.10's ``config.yaml`` (``collections`` with ``index`` and ``archive_paths``) and
its CDXJ, as ``archive.cdxj`` writes it. Each capture is a pywb collection named by its id,
so ``/<capture id>/<timestamp>/<url>`` shows that capture and nothing of another one (pywb
takes the record nearest in time from the whole collection: one collection for a case would
fill in a resource missing from one capture with another capture's). A collection's index
holds the capture's response, revisit and resource records and, for each revisit, the record
with its payload, wherever it lies: pywb looks that up by URL and digest in the same index.

Why prov writes the index, not pywb (``wb-manager add``): pywb's indexer takes metadata
records too, and prov's per-exchange metadata record has the response's WARC-Target-URI and
WARC-Date; its line sorts first (``application/json`` < ``text/html``), so pywb served that
JSON for the page. ``archive.cdxj`` indexes no metadata record.

Threat (docs/SECURITY.md, "Replay"): the CLI verifies the case or WACZ before it serves it,
but pywb reads the WARCs in the case folder while it serves, so whoever can write the case
meanwhile changes what is shown; a WACZ's WARCs are copied out of the ZIP first. Names from
the target never become paths here: indexes and copies are named by capture id or number.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from archive.errors import ConfigError, UsageError, WarcFormatError
from archive.warc.cdxj import IndexEntry, index_line, iter_entries
from provenance.base.install import install_hint
from provenance.base.untrusted_zip import open_member, open_zip
from provenance.custody.case import Case
from provenance.errors import ZipMemberError
from provenance.exports.common import seeds_in, select

CHUNK = 1 << 20
WACZ_WARC = re.compile(r"^archive/(?:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                       r"[0-9a-f]{12})-)?[A-Za-z0-9._-]*\.warc(?:\.gz)?$")
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Page:
    """A page to open: ``url`` as captured at ``timestamp`` (pywb's YYYYMMDDhhmmss)."""

    url: str
    timestamp: str


@dataclass(frozen=True)
class Collection:
    """One pywb collection: one capture, named by its id."""

    name: str
    pages: tuple[Page, ...]

    def page_url(self, base_url: str, page: Page) -> str:
        return f"{base_url}{self.name}/{page.timestamp}/{page.url}"


@dataclass(frozen=True)
class Source:
    """One capture's WARCs: each file and the name pywb's index gives it (relative to the
    collection's archive folder)."""

    name: str
    warcs: tuple[tuple[Path, str], ...]


@dataclass(frozen=True)
class Prepared:
    """A pywb working folder: its config and the collections it serves."""

    folder: Path
    config_path: Path
    collections: tuple[Collection, ...]


def case_sources(case_root: Path, capture_ids: Sequence[str]) -> list[Source]:
    """The logged captures named by ``capture_ids`` (all when empty) and those holding the
    originals of their revisits, each with its WARCs named relative to the case."""
    parts = select(Case.open(case_root), capture_ids)
    return [Source(p.capture_id, tuple((p.folder / w, f"{p.capture_dir}/{w}") for w in p.warcs))
            for p in parts]


def prepare_case(case_root: Path, capture_ids: Sequence[str], folder: Path) -> Prepared:
    """Indexes and config in ``folder`` for serving the case's captures in place."""
    sources = case_sources(case_root, capture_ids)
    return _prepare(sources, case_root.resolve(), folder)


def prepare_wacz(wacz: Path, capture_ids: Sequence[str], folder: Path) -> Prepared:
    """Copy the WACZ's WARCs out of the ZIP into ``folder/archive`` and index them. A WARC
    named ``archive/<capture id>-<n>.warc.gz`` (as prov exports) is its capture's; any other
    is in the collection ``wacz``. ``capture_ids`` (unique prefixes) limit what is served."""
    archive = folder / "archive"
    archive.mkdir()
    grouped: dict[str, list[tuple[Path, str]]] = defaultdict(list)
    try:
        with open_zip(wacz) as zf:
            for n, info in enumerate(zf.infolist()):
                match = WACZ_WARC.match(info.filename)
                if match is None or info.filename.endswith("/"):
                    continue
                name = f"{n:06d}.warc.gz" if info.filename.endswith(".gz") else f"{n:06d}.warc"
                with open_member(zf, info) as src, open(archive / name, "xb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)  # zipfile stops at the stated size
                grouped[match.group(1) or "wacz"].append((archive / name, name))
    except (ZipMemberError, OSError) as exc:
        raise UsageError(f"{wacz}: cannot read the WARCs of this WACZ: {exc}") from None
    sources = [Source(name, tuple(warcs)) for name, warcs in grouped.items()]
    if not sources:
        raise UsageError(f"{wacz}: the WACZ holds no WARC under archive/")
    shown = _chosen([s.name for s in sources], capture_ids)
    return _prepare(sources, archive.resolve(), folder, shown)


def _chosen(names: Sequence[str], capture_ids: Sequence[str]) -> set[str]:
    if not capture_ids:
        return set(names)
    chosen = set()
    for given in capture_ids:
        matches = [n for n in names if n.startswith(given.lower())]
        if len(matches) != 1:
            raise UsageError(f"--capture {given!r}: {len(matches)} captures match "
                             "(give more of the id)")
        chosen.add(matches[0])
    return chosen


def _prepare(sources: Sequence[Source], archive_root: Path, folder: Path,
             shown: set[str] | None = None) -> Prepared:
    indexes = folder / "indexes"
    indexes.mkdir()
    needs: dict[str, set[tuple[str, str]]] = {}
    collections = []
    for source in sources:
        entries = _entries(source)
        _write_sorted(indexes / f"{source.name}.cdxj", (index_line(e) for e in entries))
        needs[source.name] = {(e.surt, e.digest) for e in entries
                              if e.mime == "warc/revisit" and e.digest}
        if shown is None or source.name in shown:
            collections.append(Collection(source.name, _pages(source, entries)))
    _add_originals(indexes, needs)
    config = {
        "collections_root": str(folder / "collections"),  # never made: no automatic ones
        "framed_replay": True,
        "enable_memento": True,
        "collections": {c.name: {"index": str(indexes / f"{c.name}.cdxj"),
                                 "archive_paths": str(archive_root) + os.sep}
                        for c in collections},
    }
    config_path = folder / "config.yaml"
    config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return Prepared(folder, config_path, tuple(collections))


def _entries(source: Source) -> list[IndexEntry]:
    """The capture's index entries; of a damaged WARC (served --unverified) what can be read."""
    found = []
    for path, name in source.warcs:
        try:
            for entry in iter_entries(path):
                found.append(replace(entry, filename=name))
        except WarcFormatError:
            continue
    return found


def _pages(source: Source, entries: Sequence[IndexEntry]) -> tuple[Page, ...]:
    """The seeds that got an answer, at their first time; without a seed list (a WACZ not
    made by prov), every HTML answer."""
    seeds: list[str] = []
    if source.warcs:
        with open(source.warcs[0][0], "rb") as fh:
            seeds = seeds_in(fh, source.name)
    first: dict[str, str] = {}
    for e in sorted(entries, key=lambda e: e.timestamp):
        if e.url.startswith(("http:", "https:")):
            first.setdefault(e.url, e.timestamp)
    if seeds:
        return tuple(Page(url, first[url]) for url in dict.fromkeys(seeds) if url in first)
    html = {e.url for e in entries if e.mime == "text/html"}
    return tuple(Page(url, ts) for url, ts in first.items() if url in html)


def _add_originals(indexes: Path, needs: dict[str, set[tuple[str, str]]]) -> None:
    """Append to each capture's index the lines of the records its revisits point at."""
    wanted = set().union(*needs.values())
    if not wanted:
        return
    originals: dict[tuple[str, str], list[bytes]] = defaultdict(list)
    for name in needs:
        with open(indexes / f"{name}.cdxj", "rb") as fh:
            for line in fh:
                surt, _, doc = line.split(b" ", 2)
                fields = json.loads(doc)
                key = (surt.decode(), str(fields.get("digest")))
                if key in wanted and fields.get("mime") != "warc/revisit":
                    originals[key].append(line)
    for name, keys in needs.items():
        extra = [line for key in keys for line in originals.get(key, [])]
        if extra:
            path = indexes / f"{name}.cdxj"
            with open(path, "rb") as fh:
                own = fh.readlines()
            _write_sorted(path, [*own, *extra])


def _write_sorted(path: Path, lines: Iterable[bytes]) -> None:
    with open(path, "wb") as fh:
        fh.writelines(sorted(set(lines)))


class PywbServer:
    """pywb listening on ``host:port`` (0: a free port), serving in a child process.

    prov binds the socket itself and hands it to the child, so the port is known before pywb
    starts (connections wait in the backlog meanwhile) and a port in use is prov's clear
    error. The child ignores SIGINT: Ctrl-C reaches prov, which stops it."""

    def __init__(self, host: str, port: int) -> None:
        if importlib.util.find_spec("pywb") is None:
            raise ConfigError("prov replay needs pywb, which is not installed",
                              hint=install_hint("replay"))
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind((host, port))
            self._sock.listen(128)
        except (OSError, OverflowError) as exc:
            self._sock.close()
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ConfigError(f"cannot listen on {host} port {port}: {reason}",
                              hint="choose another --port (0 picks a free one)") from None
        self.host, self.port = host, int(self._sock.getsockname()[1])
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self, prepared: Prepared) -> None:
        """Start pywb on ``prepared`` (the socket is listening already)."""
        fd = self._sock.fileno()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "provenance.replay.child", str(fd),
             str(prepared.config_path), str(os.getpid())],
            pass_fds=(fd,), cwd=prepared.folder, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL)
        self._sock.close()  # the child holds it now

    def wait(self) -> int:
        """Until pywb stops by itself: its exit status."""
        assert self._proc is not None
        return self._proc.wait()

    def stop(self) -> None:
        self._sock.close()
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
