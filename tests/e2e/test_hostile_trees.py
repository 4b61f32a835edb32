"""Hostile trees (issue 14, "Tests that must exist"): an attacker who can write a case or a
package, but holds no trusted key, rearranges it at random; `prov verify` must never crash
(exit 1), must finish in time proportional to the input and stay under 200 MB, must print
nothing a terminal acts on, and must fail (exit 3, no VERIFIED line) exactly when the evidence
set (docs/FORMATS.md, "Signed, bound and derived") differs from what was sealed or a file the
layout does not name was added; when only derived state changed it must still pass (exit 0).

One generator: Hypothesis draws a plan of edits (extra files, folders nested deep, symlinks,
hard links, FIFOs, junk log lines, JSON nested 10,000 deep, gzip members that inflate to
1 GiB, names with control characters or drawn from all of Unicode, flipped, cut and deleted
evidence files, junk and deep folders in ``state/``) and applies it to one of four targets:
a case (a stamped capture, a browser-like capture and a revisit), a bag, a disclosure package
and a WACZ exported from it. Whether the evidence changed is judged from the tree after the
edits, against the untouched target, so two edits that undo each other are no change. Each
draw runs the real `prov verify` in its own interpreter with a fresh copy of the auditor's
`$PROV_HOME` (which remembers the case's checkpoint), as a table or as JSON.

`PROV_HOSTILE_EXAMPLES=N` draws N plans per target (default 25, about a minute in all,
the same draws every run); when it is set the draws are random, so longer runs explore (a
long local run: `PROV_HOSTILE_EXAMPLES=300 pytest --timeout=0 ...`, since one Hypothesis test
is one pytest test to the 300 s timeout). Time is judged as CPU seconds, so a machine busy
with other work does not fail a draw.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from exports import Built, build
from helpers import PROV_MAIN
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from tsa import LocalTSA

from provenance.base.untrusted import iter_tree

EXAMPLES = int(os.environ.get("PROV_HOSTILE_EXAMPLES", "25"))
# no shrinking: every draw runs the real prov (a second or more), and a failure names its edits
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    derandomize="PROV_HOSTILE_EXAMPLES" not in os.environ,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate],
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])
MAX_RSS_MB = 200
TERMINAL = ("\x1b", "\r", "\x9b", "\u202e")  # what a terminal acts on (escape, return, bidi)
HWM_MAIN = (
    "import atexit, os, resource\n"
    "def _hwm():\n"
    "    with open('/proc/self/status') as fh:\n"
    "        own = int(next(x for x in fh if x.startswith('VmHWM:')).split()[1])\n"
    "    me = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    kids = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime\n"
    "    with open(os.environ['PROV_TEST_HWM'], 'w') as out:\n"
    "        out.write(f'{max(own, kids.ru_maxrss)} {cpu}')\n"
    "atexit.register(_hwm)\n"
) + PROV_MAIN

NASTY_NAMES = [
    "x.warc.gz", "data-00009.warc.gz", "seal.dsse.json", "seal.0123456789abcdef.tsr",
    "evil\r\x1b[2KVERIFIED: all good", "\x1b[1A\x1b[2Kname", "a\nb", "log.jsonl.bak",
    "00000000000000000001.checkpoint", "case.json", "bagit.txt", "disclosure.json", "é",
    "x" * 200, "-n", "index.cdxj", "a\u202eb", "tree", "a" * 64 + ".pem",
]
names = st.one_of(
    st.sampled_from(NASTY_NAMES),
    st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
            min_size=1, max_size=40),
).filter(lambda n: n not in (".", "..") and len(n.encode()) < 200)


def _bomb_member() -> bytes:
    """One gzip member of about 1 MB that inflates to 1 GiB of zeros."""
    zeros = bytes(1 << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(1024):
        crc = zlib.crc32(zeros, crc)
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + segment * 1024
            + comp.flush(zlib.Z_FINISH) + crc.to_bytes(4, "little") + (0).to_bytes(4, "little"))


BOMB = _bomb_member()


# -- the targets --------------------------------------------------------------------------------


@dataclass
class Targets:
    built: Built
    home: Path  # the auditor's $PROV_HOME, which has verified the case once
    tsa_root: Path
    paths: dict[str, Path]  # kind -> the untouched target
    trees: dict[str, dict[str, tuple[str, ...]]]  # kind -> its tree (see `tree`)


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Targets]:
    root = tmp_path_factory.mktemp("hostile-trees")
    with LocalTSA() as tsa:
        built = build(root, tsa)
        tsa_root = built.tsa_root()
        for args in (("export", "bag", "-o", str(root / "bag")),
                     ("disclose", "--capture", built.first_id, "-o", str(root / "disclosure")),
                     ("export", "wacz", "-o", str(root / "case.wacz"))):
            proc = built.prov(*args, "--case", str(built.case))
            assert proc.returncode == 0, f"{args}: {proc.stderr}"  # type: ignore[attr-defined]
        paths = {"case": built.case, "bag": root / "bag", "disclosure": root / "disclosure",
                 "wacz": root / "case.wacz"}
        home = root / "auditor"
        shutil.copytree(root / "prov-home", home)
        found = Targets(built, home, tsa_root, paths, {})
        verdict = verify(found, built.case, root, as_json=False, home=home)  # remembered
        assert verdict.code == 0, verdict.out + verdict.err
        found.trees = {kind: tree(path) for kind, path in paths.items() if kind != "wacz"}
        yield found


# -- edits ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    kind: str
    where: int  # index into the candidate paths
    name: str
    size: int


EDITS = ["add-file", "add-dir-deep", "add-symlink", "add-hardlink", "add-fifo", "flip", "cut",
         "delete", "junk-lines", "deep-json-line", "bomb", "state-junk", "state-deep"]
edit_strategy = st.builds(Edit, st.sampled_from(EDITS), st.integers(0, 10_000), names,
                          st.integers(1, 4096))


def tree(root: Path) -> dict[str, tuple[str, ...]]:
    """Every entry under ``root`` (no link followed, 64 levels): a file by its sha256, a
    link by what it names, a folder, anything else, or a folder too deep to enter."""
    out: dict[str, tuple[str, ...]] = {}
    for entry in iter_tree(root, max_depth=64):
        path = root / entry.rel
        if entry.kind == "file":
            out[entry.rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
        elif entry.kind == "symlink":
            out[entry.rel] = ("symlink", os.readlink(path))
        else:
            out[entry.rel] = (entry.kind,)
    return out


def derived(kind: str, rel: str) -> bool:
    """Unsigned and never judged (docs/FORMATS.md, "Signed, bound and derived"): a case's
    ``state/``, ``.lock`` and ``config.toml``. A bag's manifests cover all of ``data/``."""
    return kind == "case" and rel.split("/")[0] in ("state", ".lock", "config.toml")


def evidence_changed(kind: str, before: dict[str, tuple[str, ...]],
                     after: dict[str, tuple[str, ...]]) -> bool:
    for rel in before.keys() | after.keys():
        if derived(kind, rel) or before.get(rel) == after.get(rel):
            continue
        if kind == "case" and rel.startswith("keys/") and rel not in after:
            continue  # the key cache lost a file: rebuilt from the log (a changed one fails)
        return True
    return False


def _candidates(root: Path, kind: str) -> tuple[list[str], list[str]]:
    entries = [e for e in iter_tree(root, max_depth=64)
               if not derived(kind, e.rel)]
    files = [e.rel for e in entries if e.kind == "file"]
    dirs = ["", *(e.rel for e in entries if e.kind == "dir")]
    return files, dirs


def apply(root: Path, kind: str, edit: Edit) -> str:
    """Make one change under ``root`` (a ``kind`` target folder); what was done."""
    files, dirs = _candidates(root, kind)
    folder = dirs[edit.where % len(dirs)]
    target = root / folder / edit.name if folder else root / edit.name
    if edit.kind.startswith("add-") and os.path.lexists(target):
        return f"{edit.kind} skipped ({edit.name!r} exists in {folder!r})"
    if edit.kind == "add-file":
        target.write_bytes(os.urandom(edit.size))
    elif edit.kind == "add-dir-deep":
        deep = target
        for _ in range(1 + edit.size % 1500):
            try:
                deep.mkdir()
            except OSError:  # ENAMETOOLONG
                break
            deep = deep / "d"
    elif edit.kind == "add-symlink":
        pointee = root / files[edit.where % len(files)] if edit.size % 2 else Path("/etc/hostname")
        target.symlink_to(pointee)
    elif edit.kind == "add-hardlink":
        target.hardlink_to(root / files[edit.where % len(files)])
    elif edit.kind == "add-fifo":
        os.mkfifo(target)
    elif edit.kind in ("state-junk", "state-deep"):
        return _state(root, kind, edit.kind)
    elif edit.kind in ("flip", "cut", "delete"):
        return _damage(root, files[edit.where % len(files)], edit)
    else:
        return _append(root, files, edit)
    return f"{edit.kind} {folder}/{edit.name!r}"


def _state(root: Path, kind: str, what: str) -> str:
    if kind != "case":
        return f"{what} skipped (no state/ in a {kind})"
    state = root / "state"
    state.mkdir(exist_ok=True)
    if what == "state-junk":
        for rel in ("dedup.json", "schedule.json", "tree/meta.json"):
            (state / rel).parent.mkdir(parents=True, exist_ok=True)
            (state / rel).write_bytes(b"[" * 10_000)
        return "nested JSON in state/"
    deep = state
    for _ in range(1500):
        deep = deep / "d"
        try:
            deep.mkdir(exist_ok=True)
        except OSError:
            break
    if not os.path.lexists(deep.parent / "fifo"):  # drawn twice
        os.mkfifo(deep.parent / "fifo")
    return "1,500 nested folders and a FIFO in state/"


def _damage(root: Path, rel: str, edit: Edit) -> str:
    path = root / rel
    data = path.read_bytes()
    if edit.kind == "delete":
        path.unlink()
        return f"delete {rel}"
    if not data:
        return f"{edit.kind} skipped ({rel} empty)"
    if edit.kind == "flip":
        at = edit.size * 7919 % len(data)
        path.write_bytes(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:])
        return f"flip byte {at} of {rel}"
    path.write_bytes(data[: edit.size % len(data)])
    return f"cut {rel} to {edit.size % len(data)} bytes"


def _append(root: Path, files: list[str], edit: Edit) -> str:
    if edit.kind == "bomb":
        warcs = [f for f in files if f.endswith(".warc.gz")]
        if not warcs:
            return "bomb skipped (no WARC)"
        with open(root / warcs[edit.where % len(warcs)], "ab") as fh:
            fh.write(BOMB)
        return f"a 1 GiB gzip bomb after {warcs[edit.where % len(warcs)]}"
    logs = [f for f in files if f.endswith(".jsonl")]
    if not logs:
        return f"{edit.kind} skipped (no log)"
    log = logs[edit.where % len(logs)]
    line = b"[" * 10_000 if edit.kind == "deep-json-line" else b"{junk}"
    count = 1 if edit.kind == "deep-json-line" else edit.size * 64
    with open(root / log, "ab") as fh:
        fh.write((line + b"\n") * count)
    return f"{count} lines of {line[:8]!r} after {log}"


# -- running verify ---------------------------------------------------------------------------


@dataclass
class Verdict:
    code: int
    out: str
    err: str
    seconds: float  # wall time
    peak_mb: float
    cpu: float  # seconds of CPU, workers included: what verify spent, however loaded the machine


def verify(targets: Targets, target: Path, work: Path, *, as_json: bool,
           home: Path | None = None) -> Verdict:
    """`prov verify` as an auditor runs it, with a fresh copy of the auditor's home."""
    if home is None:
        home = work / "auditor"
        shutil.copytree(targets.home, home)
    env = {**targets.built.env, "PROV_HOME": str(home), "PROV_TEST_HWM": str(work / "hwm")}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", HWM_MAIN, "verify", str(target), "--trust",
         str(targets.built.pub), "--tsa-root", str(targets.tsa_root),
         *(["--json"] if as_json else [])],
        env=env, capture_output=True, text=True, timeout=300, check=False,
        errors="surrogateescape", stdin=subprocess.DEVNULL)
    seconds = time.monotonic() - started
    hwm = work / "hwm"
    peak, cpu = hwm.read_text().split() if hwm.exists() else ("0", "0")
    return Verdict(proc.returncode, proc.stdout, proc.stderr, seconds, int(peak) / 1024,
                   float(cpu))


def _size(root: Path) -> int:
    return sum(os.lstat(root / e.rel).st_size for e in iter_tree(root, max_depth=64)
               if e.kind == "file")


def judge(verdict: Verdict, kind: str, changed: bool, what: list[str], input_bytes: int,
          as_json: bool) -> None:
    said = f"{what}: exit {verdict.code}\n{verdict.out[-3000:]}\n{verdict.err[-2000:]}"
    assert verdict.code != 1, "crash: " + said
    assert "Traceback" not in verdict.err, said
    # a bomb is 1 GiB of inflation: what verify may spend is bounded by the bytes on disk
    # (CPU time: a machine busy with other work stretches the wall time, not the work; a hang
    # that spends no CPU is the subprocess timeout)
    assert verdict.cpu < 30 + input_bytes / 5e6, f"{verdict.cpu:.1f} s of CPU: " + said
    assert verdict.peak_mb < MAX_RSS_MB, f"{verdict.peak_mb:.0f} MB: " + said
    for control in TERMINAL:
        assert control not in verdict.out + verdict.err, f"{control!r} on the terminal: " + said
    if as_json:
        report = json.loads(verdict.out)
        decided, passed = report["kind"], report["result"] == "pass"
    else:
        verdict_line = verdict.out.rstrip("\n").rsplit("\n", 1)[-1]
        passed = verdict_line.startswith("VERIFIED: ")
        named = re.search(r" \((case|wacz|bag|disclosure|proof), ", verdict_line)
        assert verdict_line.startswith(("VERIFIED: ", "FAILED: ")) and named, said
        decided = named.group(1)
    if kind == "case" or not changed:
        assert decided == kind, said  # nothing added outranks a case's own marker
    if changed:
        assert verdict.code == 3 and not passed, "evidence changed but not failed: " + said
    else:
        assert verdict.code == 0 and passed, "nothing evidence changed, yet: " + said


def run_plan(targets: Targets, kind: str, edits: list[Edit], as_json: bool,
             tmp: Path) -> None:
    work = tmp / f"draw-{time.monotonic_ns()}"
    work.mkdir()
    source = targets.paths[kind]
    target = work / source.name
    shutil.copytree(source, target, symlinks=True)
    what = [apply(target, kind, edit) for edit in edits]
    changed = evidence_changed(kind, targets.trees[kind], tree(target))
    try:
        judge(verify(targets, target, work, as_json=as_json), kind, changed, what,
              _size(work), as_json)
    finally:
        _remove(work)


def _remove(path: Path) -> None:
    for entry in iter_tree(path, max_depth=4096):
        if entry.kind == "other":
            (path / entry.rel).unlink()
    shutil.rmtree(path, ignore_errors=True)


# -- the properties ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["case", "bag", "disclosure"])
@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_the_untouched_targets_verify(targets: Targets, tmp_path: Path, kind: str,
                                      as_json: bool) -> None:
    run_plan(targets, kind, [], as_json, tmp_path)


@SETTINGS
@given(kind=st.sampled_from(["case", "bag", "disclosure"]),
       edits=st.lists(edit_strategy, min_size=1, max_size=3), as_json=st.booleans())
def test_a_hostile_folder(targets: Targets, tmp_path: Path, kind: str, edits: list[Edit],
                          as_json: bool) -> None:
    run_plan(targets, kind, edits, as_json, tmp_path)


WACZ_EDITS = ["flip-member", "add-member", "deep-json", "bomb-member", "dup-member",
              "flip-file", "cut-file", "rewrite"]


def _rewrite_wacz(source: Path, target: Path, kind: str, pick: int, name: str) -> None:
    """Copy the WACZ member by member (ZIP metadata as it was), changing one as ``kind``."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as out:
        for i, info in enumerate(src.infolist()):
            data = src.read(info)
            if i == pick and kind == "flip-member" and data:
                data = data[:-1] + bytes([data[-1] ^ 1])
            if i == pick and kind == "deep-json" and info.filename.endswith(".json"):
                data = b"[" * 10_000
            if i == pick and kind == "bomb-member" and info.filename.endswith(".warc.gz"):
                data += BOMB
            out.writestr(info, data)
            if i == pick and kind == "dup-member":
                with warnings.catch_warnings():  # the duplicate is the point
                    warnings.simplefilter("ignore")
                    out.writestr(info.filename, b"{}")
        if kind == "add-member":
            out.writestr(name, b"added")


@SETTINGS
@given(kind=st.sampled_from(WACZ_EDITS), where=st.integers(0, 10_000), name=names,
       as_json=st.booleans())
def test_a_hostile_wacz(targets: Targets, tmp_path: Path, kind: str, where: int, name: str,
                        as_json: bool) -> None:
    source = targets.paths["wacz"]
    work = tmp_path / f"draw-{time.monotonic_ns()}"
    work.mkdir()
    target = work / "case.wacz"
    with zipfile.ZipFile(source) as src:
        members = src.infolist()
    pick = where % len(members)
    if kind in ("flip-file", "cut-file"):
        data = source.read_bytes()
        at = where * 7919 % len(data)
        target.write_bytes(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]
                           if kind == "flip-file" else data[:at])
    else:
        _rewrite_wacz(source, target, kind, pick, name)
    # the evidence is what the members hold (datapackage.json binds each by its bytes), not
    # the ZIP's own fields (times, "version made by"): a flip there changes nothing signed
    changed = _members(target) != _members(source)
    try:
        judge(verify(targets, target, work, as_json=as_json), "wacz", changed,
              [kind, str(pick), members[pick].filename], _size(work), as_json)
    finally:
        _remove(work)


def _members(path: Path) -> list[tuple[str, bytes]] | None:
    """Each member's name and bytes in order; None when the ZIP cannot be read whole."""
    try:
        with zipfile.ZipFile(path) as zf:
            return [(i.filename, zf.read(i)) for i in zf.infolist()]
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError):
        return None
