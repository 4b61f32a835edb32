"""Hostile trees (issue 14, "Tests that must exist"): an attacker who can write a case or a
package, but holds no trusted key, rearranges it at random; `prov verify` must never crash
(exit 1), must finish in time proportional to the input and stay under 200 MB, and must never
print VERIFIED when a byte of the evidence set (docs/FORMATS.md, "Signed, bound and derived")
differs from what was sealed, or when a file the layout does not name was added.

Hypothesis draws a plan of edits: extra files, folders nested deep, symlinks, FIFOs, junk log
lines, JSON nested 10,000 deep, gzip members that inflate to 1 GiB, names with control
characters, flipped, cut and deleted evidence files. Targets: a case (with a stamped capture,
a browser-like capture and a revisit), a bag, a disclosure package and a WACZ exported from
it. Each draw runs the real `prov verify`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from exports import Built, build
from helpers import PROV_MAIN
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from tsa import LocalTSA

EXAMPLES = int(os.environ.get("PROV_HOSTILE_EXAMPLES", "25"))
# no shrinking: every draw runs the real prov (seconds), and a failure already names its edits
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate],
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])
MAX_RSS_MB = 200
HWM_MAIN = (
    "import atexit, os\n"
    "def _hwm():\n"
    "    with open('/proc/self/status') as fh:\n"
    "        line = next(x for x in fh if x.startswith('VmHWM:'))\n"
    "    with open(os.environ['PROV_TEST_HWM'], 'w') as out:\n"
    "        out.write(line.split()[1])\n"
    "atexit.register(_hwm)\n"
) + PROV_MAIN

NASTY_NAMES = [
    "x.warc.gz", "data-00009.warc.gz", "seal.dsse.json", "seal.0123456789abcdef.tsr",
    "evil\r\x1b[2KVERIFIED: all good", "\x1b[1A\x1b[2Kname", "a\nb", "log.jsonl.bak",
    "00000000000000000001.checkpoint", "case.json", "..", "é", "x" * 200, "-n", "index.cdxj",
]


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
    bag: Path
    disclosure: Path
    wacz: Path
    tsa_root: Path


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
        yield Targets(built, root / "bag", root / "disclosure", root / "case.wacz", tsa_root)


# -- edits ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    kind: str
    where: int  # index into the candidate paths
    name: int  # index into NASTY_NAMES
    size: int



def _derived(rel: str, *, changed: bool = False) -> bool:
    """Paths no signature covers and verify never judges (docs/FORMATS.md, "Signed, bound
    and derived"): in a case, ``state/``, ``.lock`` and ``config.toml``, and when a file is
    changed rather than added, the ``keys/`` cache. A bag's manifests cover all of ``data/``."""
    parts = rel.split("/")
    if not parts or parts[0] == "data":
        return False
    return parts[0] in ("state", ".lock", "config.toml") or (changed and parts[0] == "keys")


EDITS = ["add-file", "add-dir-deep", "add-symlink", "add-fifo", "flip", "cut", "delete",
         "junk-lines", "deep-json-line", "bomb", "state-junk", "state-deep"]

edit_strategy = st.builds(Edit, st.sampled_from(EDITS), st.integers(0, 10_000),
                          st.integers(0, len(NASTY_NAMES) - 1), st.integers(1, 4096))


def _files(root: Path) -> list[str]:
    out = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            out.append((Path(dirpath) / name).relative_to(root).as_posix())
    return sorted(out)


def _dirs(root: Path) -> list[str]:
    out = [""]
    for dirpath, dirs, _names in os.walk(root):
        for name in dirs:
            out.append((Path(dirpath) / name).relative_to(root).as_posix())
    return sorted(out)


def apply(root: Path, edit: Edit) -> tuple[str, bool]:
    """Apply ``edit`` under ``root``: (a description, whether the evidence set changed)."""
    files = [f for f in _files(root) if not _derived(f, changed=True)]
    dirs = [d for d in _dirs(root) if not _derived(d)]
    name = NASTY_NAMES[edit.name]
    folder = dirs[edit.where % len(dirs)]
    target = root / folder / name if folder else root / name
    if edit.kind in ("add-file", "add-dir-deep", "add-symlink", "add-fifo") and (
            os.path.lexists(target) or name == ".."):
        return f"{edit.kind} skipped ({name!r} exists in {folder!r})", False
    if edit.kind == "add-file":
        target.write_bytes(os.urandom(edit.size))
        return f"add file {folder}/{name!r}", True
    if edit.kind == "add-dir-deep":
        deep = target
        deep.mkdir()
        for _ in range(edit.size % 1500):
            deep = deep / "d"
            try:
                deep.mkdir()
            except OSError:  # ENAMETOOLONG
                break
        return f"add {edit.size % 1500} nested folders at {folder}/{name!r}", True
    if edit.kind == "add-symlink":
        pointee = root / files[edit.where % len(files)] if edit.size % 2 else Path("/etc/hostname")
        target.symlink_to(pointee)
        return f"add symlink {folder}/{name!r} -> {pointee.name}", True
    if edit.kind == "add-fifo":
        os.mkfifo(target)
        return f"add FIFO {folder}/{name!r}", True
    if edit.kind in ("state-junk", "state-deep"):
        state = _state_dir(root)
        if state is None:
            return "no state folder", False
        state.mkdir(exist_ok=True)
        if edit.kind == "state-junk":
            for rel in ("dedup.json", "schedule.json", "tree/meta.json"):
                (state / rel).parent.mkdir(parents=True, exist_ok=True)
                (state / rel).write_bytes(b"[" * 10_000)
            return "junk in state/", False
        deep = state
        for _ in range(1500):
            deep = deep / "d"
            try:
                deep.mkdir(exist_ok=True)
            except OSError:
                break
        os.mkfifo(deep.parent / "fifo")
        return "1,500 nested folders and a FIFO in state/", False
    rel = files[edit.where % len(files)]
    path = root / rel
    data = path.read_bytes()
    if edit.kind == "flip":
        if not data:
            return f"flip skipped ({rel} empty)", False
        at = edit.size * 7919 % len(data)
        path.write_bytes(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:])
        return f"flip byte {at} of {rel}", True
    if edit.kind == "cut":
        if not data:
            return f"cut skipped ({rel} empty)", False
        path.write_bytes(data[: edit.size % len(data)])
        return f"cut {rel} to {edit.size % len(data)} bytes", True
    if edit.kind == "delete":
        path.unlink()
        return f"delete {rel}", True
    log = _log(root)
    if edit.kind == "junk-lines":
        with open(log, "ab") as fh:
            fh.write(b"{junk}\n" * (edit.size * 64))
        return f"{edit.size * 64} junk lines after the log", True
    if edit.kind == "deep-json-line":
        with open(log, "ab") as fh:
            fh.write(b"[" * 10_000 + b"\n")
        return "a log line of 10,000 nested [", True
    if edit.kind == "bomb":
        warcs = [f for f in files if f.endswith(".warc.gz")]
        if not warcs:
            return "no WARC to bomb", False
        with open(root / warcs[edit.where % len(warcs)], "ab") as fh:
            fh.write(BOMB)
        return f"a 1 GiB gzip bomb after {warcs[edit.where % len(warcs)]}", True
    raise AssertionError(edit.kind)


def _state_dir(root: Path) -> Path | None:
    for case in (root, root / "data"):
        if (case / "case.json").is_file():
            return case / "state"
    return None


def _log(root: Path) -> Path:
    for candidate in (root / "custody" / "log.jsonl", root / "data" / "custody" / "log.jsonl"):
        if candidate.is_file():
            return candidate
    found = sorted(p for p in root.rglob("*.jsonl") if not p.is_symlink())
    return found[0] if found else root / "custody.jsonl"


# -- running verify ---------------------------------------------------------------------------


@dataclass
class Verdict:
    code: int
    out: str
    err: str
    seconds: float
    peak_mb: float


def verify(targets: Targets, target: Path, work: Path) -> Verdict:
    env = targets.built.env
    hwm = work / "hwm.kb"
    env["PROV_TEST_HWM"] = str(hwm)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", HWM_MAIN, "verify", str(target), "--trust", str(targets.built.pub),
         "--tsa-root", str(targets.tsa_root)],
        env=env, capture_output=True, text=True, timeout=180, check=False,
        errors="surrogateescape", stdin=subprocess.DEVNULL)
    seconds = time.monotonic() - started
    peak = int(hwm.read_text()) / 1024 if hwm.exists() else 0.0
    return Verdict(proc.returncode, proc.stdout, proc.stderr, seconds, peak)


def _size(root: Path) -> int:
    total = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(Path(dirpath) / name).st_size
    return total


def judge(verdict: Verdict, evidence_changed: bool, what: list[str], input_bytes: int) -> None:
    said = f"{what}: exit {verdict.code}\n{verdict.out[-3000:]}\n{verdict.err[-2000:]}"
    assert verdict.code != 1, "crash: " + said
    assert verdict.code in (0, 3, 4), said
    assert "Traceback" not in verdict.err, said
    # a bomb is 1 GiB of inflation: what verify may spend is bounded by the bytes on disk
    assert verdict.seconds < 30 + input_bytes / 5e6, f"{verdict.seconds:.1f} s: " + said
    assert verdict.peak_mb < MAX_RSS_MB, f"{verdict.peak_mb:.0f} MB: " + said
    for control in ("\x1b", "\r"):
        assert control not in verdict.out, "a control character reached the terminal: " + said
    if evidence_changed:
        assert verdict.code == 3, "evidence changed but not failed: " + said
        assert "VERIFIED" not in verdict.out.replace("NOT VERIFIED", ""), said


def run_plan(targets: Targets, source: Path, edits: list[Edit], tmp: Path,
             copy: Callable[[Path, Path], None]) -> None:
    work = tmp / f"draw-{time.monotonic_ns()}"
    work.mkdir()
    target = work / source.name
    copy(source, target)
    what, changed = [], False
    for edit in edits:
        said, touched = apply(target if target.is_dir() else work, edit)
        what.append(said)
        changed = changed or touched
    try:
        judge(verify(targets, target, work), changed, what, _size(work))
    finally:
        _remove(work)


def _remove(path: Path) -> None:
    for dirpath, _dirs, names in os.walk(path):
        for name in names:
            p = Path(dirpath) / name
            if p.is_fifo():
                p.unlink()
    shutil.rmtree(path, ignore_errors=True)


def _copytree(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, symlinks=True)


# -- the properties ---------------------------------------------------------------------------


def test_the_untouched_targets_verify(targets: Targets, tmp_path: Path) -> None:
    for source in (targets.built.case, targets.bag, targets.disclosure):
        run_plan(targets, source, [], tmp_path, _copytree)


@SETTINGS
@given(edits=st.lists(edit_strategy, min_size=1, max_size=3))
def test_a_hostile_case(targets: Targets, tmp_path: Path, edits: list[Edit]) -> None:
    run_plan(targets, targets.built.case, edits, tmp_path, _copytree)


@SETTINGS
@given(edits=st.lists(edit_strategy, min_size=1, max_size=3))
def test_a_hostile_bag(targets: Targets, tmp_path: Path, edits: list[Edit]) -> None:
    run_plan(targets, targets.bag, edits, tmp_path, _copytree)


@SETTINGS
@given(edits=st.lists(edit_strategy, min_size=1, max_size=3))
def test_a_hostile_disclosure(targets: Targets, tmp_path: Path, edits: list[Edit]) -> None:
    run_plan(targets, targets.disclosure, edits, tmp_path, _copytree)


WACZ_EDITS = ["flip-member", "add-member", "deep-json", "bomb-member", "dup-member", "flip-file"]


@SETTINGS
@given(kind=st.sampled_from(WACZ_EDITS), where=st.integers(0, 10_000),
       name=st.integers(0, len(NASTY_NAMES) - 1))
def test_a_hostile_wacz(targets: Targets, tmp_path: Path, kind: str, where: int,
                        name: int) -> None:
    work = tmp_path / f"draw-{time.monotonic_ns()}"
    work.mkdir()
    target = work / "case.wacz"
    with zipfile.ZipFile(targets.wacz) as src:
        members = [(info, src.read(info)) for info in src.infolist()]
    pick = where % len(members)
    changed = True
    if kind == "flip-file":
        data = bytearray(targets.wacz.read_bytes())
        data[where * 7919 % len(data)] ^= 0x01
        target.write_bytes(bytes(data))
    else:
        changed = kind in ("add-member", "dup-member")
        with zipfile.ZipFile(target, "w") as out:
            for i, (info, data) in enumerate(members):
                if i == pick and kind == "flip-member" and data:
                    data, changed = data[:-1] + bytes([data[-1] ^ 1]), True
                if i == pick and kind == "deep-json" and info.filename.endswith(".json"):
                    data, changed = b"[" * 10_000, True
                if i == pick and kind == "bomb-member" and info.filename.endswith(".warc.gz"):
                    data, changed = data + BOMB, True
                out.writestr(info, data)
                if i == pick and kind == "dup-member":
                    out.writestr(info.filename, b"{}")
            if kind == "add-member":
                out.writestr(NASTY_NAMES[name], b"added")
    try:
        judge(verify(targets, target, work), changed, [kind, str(pick)], _size(work))
    finally:
        _remove(work)
