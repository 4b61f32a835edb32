"""A WACZ an attacker damaged or padded (issue 14, point 4): every way ``zipfile`` can fail is
a finding (exit 3, never the crash of exit 1), and what no seal names costs no memory.

Each test damages a copy of one WACZ exported by the real CLI from ``test_tamper``'s sealed
case and runs ``prov verify`` on it as an auditor (an empty ``$PROV_HOME``, ``--trust``).
``provenance.base.untrusted_zip`` is the one place a ZIP member is read.
"""

from __future__ import annotations

import json
import random
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import test_tamper
from helpers import checked, home_env, run_measured, verify_at
from helpers import run_prov_at as run_prov
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_tamper import SealedCase, fails

from archive.errors import ProvError
from provenance import api
from provenance.exports.wacz import MANIFEST

sealed = test_tamper.sealed
auditor_home = test_tamper.auditor_home
PAGES = "pages/pages.jsonl"  # a deflated member of every export
MEMORY_BOUND = 200 << 20


@pytest.fixture(scope="module")
def exported(sealed: SealedCase, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("wacz-attacks")
    case = base / "case"
    shutil.copytree(sealed.root, case, symlinks=True)
    wacz = base / "export.wacz"
    checked(run_prov(sealed.home, "export", "wacz", "--case", case, "-o", wacz))
    return wacz


def verify(home: Path, sealed: SealedCase, wacz: Path) -> tuple[int, dict[str, Any]]:
    return verify_at(home, wacz, "--trust", sealed.public)


def headers_of(data: bytes, name: str) -> list[tuple[int, int]]:
    """(general-purpose flag offset, method offset) of ``name``'s central directory entry and
    local header (APPNOTE 4.3.7 and 4.3.12)."""
    raw, found, at = name.encode(), [], 0
    while (at := data.find(raw, at + 1)) != -1:
        if data[at - 46 : at - 42] == b"PK\x01\x02":
            found.append((at - 46 + 8, at - 46 + 10))
        elif data[at - 30 : at - 26] == b"PK\x03\x04":
            found.append((at - 30 + 6, at - 30 + 8))
    assert len(found) == 2, found
    return found


def corrupt_deflate(data: bytearray, wacz: Path) -> None:
    """Invert the bytes of a deflated member's stream (zlib.error when inflated)."""
    with zipfile.ZipFile(wacz) as zf:
        info = zf.getinfo(PAGES)
    assert info.compress_type == zipfile.ZIP_DEFLATED
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start + 2, start + info.compress_size - 2):
        data[i] ^= 0xFF


def set_flag(bit: int) -> Callable[[bytearray, Path], None]:
    def edit(data: bytearray, wacz: Path) -> None:
        for flags, _ in headers_of(bytes(data), PAGES):
            data[flags] |= bit
    return edit


def set_method(method: int) -> Callable[[bytearray, Path], None]:
    def edit(data: bytearray, wacz: Path) -> None:
        for _, at in headers_of(bytes(data), PAGES):
            struct.pack_into("<H", data, at, method)
    return edit


@pytest.mark.parametrize(("edit", "reason"), [
    (corrupt_deflate, "cannot be read: Error -3 while decompressing data"),
    (set_flag(0x01), "member is encrypted"),
    (set_flag(0x40), "member is encrypted"),
    (set_method(99), "compression method 99"),
    (set_method(12), "compression method 12"),  # bzip2: inflated a chunk at a time, unbounded
    (set_method(14), "compression method 14"),  # LZMA: likewise
], ids=["deflate-stream", "encrypted", "strong-encryption", "method-99", "bzip2", "lzma"])
def test_an_unreadable_member_is_a_finding(
    edit: Callable[[bytearray, Path], None], reason: str, sealed: SealedCase, exported: Path,
    auditor_home: Path, tmp_path: Path,
) -> None:
    data = bytearray(exported.read_bytes())
    edit(data, exported)
    damaged = tmp_path / "damaged.wacz"
    damaged.write_bytes(bytes(data))
    code, report = verify(auditor_home, sealed, damaged)
    assert code == 3 and report["kind"] == "wacz"
    [finding] = [f for f in fails(report) if f["subject"] == PAGES]
    assert finding["check"] == "wacz.member" and finding["message"].startswith(reason), finding
    # the rest was judged: every other member still matches its listed digest
    assert any(f["check"] == "seal.signature" and f["status"] == "pass"
               for f in report["findings"])


def test_a_broken_central_directory_is_an_integrity_failure(
    sealed: SealedCase, exported: Path, auditor_home: Path, tmp_path: Path
) -> None:
    """The end record says ZIP, so it is a WACZ: what is wrong inside it is evidence (exit 3),
    never "not a target" (exit 4)."""
    data = bytearray(exported.read_bytes())
    data[data.find(b"PK\x01\x02") + 2] = 9
    damaged = tmp_path / "cd-broken.wacz"
    damaged.write_bytes(bytes(data))
    code, report = verify(auditor_home, sealed, damaged)
    assert code == 3 and (report["kind"], report["kindReason"]) == ("wacz", "a ZIP file")
    [finding] = fails(report)
    assert (finding["check"], finding["subject"]) == ("wacz.zip", "cd-broken.wacz")
    assert "central directory" in finding["message"]


def test_a_compressed_size_past_the_next_member_is_read_within_its_slot(
    sealed: SealedCase, exported: Path, auditor_home: Path, tmp_path: Path
) -> None:
    """A member whose declared compressed size reaches over the members after it (how
    overlapping members inflate one stream many times) is read only up to the next header:
    here its own stream ends in time, so what it holds is unchanged and the WACZ verifies."""
    data = bytearray(exported.read_bytes())
    with zipfile.ZipFile(exported) as zf:
        first = min(zf.infolist(), key=lambda i: i.header_offset)
    name = first.filename.encode()
    at = next(i for i in range(len(data)) if data.startswith(b"PK\x01\x02", i)
              and data[i + 46 : i + 46 + len(name)] == name)
    struct.pack_into("<I", data, at + 20, len(data))  # its compressed size: the whole file
    widened = tmp_path / "overlap.wacz"
    widened.write_bytes(bytes(data))
    code, report = verify(auditor_home, sealed, widened)
    assert code == 0, fails(report)


def extra_records_wacz(source: Path, out: Path, count: int) -> None:
    """``source`` plus a member ``archive/extra.warc`` of ``count`` tiny WARC records, listed
    in (unsigned) datapackage.json but named by no seal. Deflated: a few random bytes per
    record keep the ratio far under the bomb bound, and the file tens of MB."""
    rng = random.Random(14)
    block = b"".join(
        b"WARC/1.1\r\nWARC-Type: resource\r\nWARC-Record-ID: <urn:uuid:%08x-0000-4000-8000-"
        b"000000000000>\r\nWARC-Date: 2024-01-01T00:00:00Z\r\nWARC-Target-URI: urn:x:%s\r\n"
        b"Content-Length: 0\r\n\r\n\r\n\r\n" % (i, rng.randbytes(6).hex().encode())
        for i in range(10_000))
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "datapackage.json":
                package = json.loads(data)
                package["resources"].append({"name": "extra.warc", "path": "archive/extra.warc",
                                             "hash": "sha256:00", "bytes": 1})
                data = json.dumps(package).encode()
            dst.writestr(info, data)
        extra = zipfile.ZipInfo("archive/extra.warc", (2024, 1, 1, 0, 0, 0))
        extra.compress_type = zipfile.ZIP_DEFLATED
        with dst.open(extra, "w", force_zip64=True) as fh:
            for _ in range(count // 10_000):
                fh.write(block)


def test_records_no_seal_names_cost_no_memory(
    sealed: SealedCase, exported: Path, auditor_home: Path, tmp_path: Path
) -> None:
    """3,000,000 records in a member only datapackage.json lists: it is hashed, not walked
    record by record (one leaf hash each used to be kept: some 300 MB)."""
    big = tmp_path / "big.wacz"
    extra_records_wacz(exported, big, 3_000_000)
    result, peak = run_measured("verify", str(big), "--json", "--trust", str(sealed.public),
                                env=home_env(auditor_home))
    assert result.returncode == 3, result.stderr
    report = json.loads(result.stdout)
    assert [f["check"] for f in fails(report) if f["subject"] == "archive/extra.warc"] == [
        "wacz.unsealed", "wacz.resource"]
    assert peak < MEMORY_BOUND, f"{peak >> 20} MiB"


def rewritten(source: Path, out: Path, name: str, change: Callable[[bytes], bytes]) -> Path:
    """A copy of the WACZ ``source`` with member ``name``'s bytes changed (nothing re-signed)."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, change(data) if info.filename == name else data)
    return out


def test_a_capture_named_many_times_in_the_manifest_is_judged_once(
    sealed: SealedCase, exported: Path, auditor_home: Path, tmp_path: Path
) -> None:
    """The manifest is unsigned until its digest is checked: each capture it listed was judged
    (a seal's signature, its files, its tokens) as often as it was named, so 20,000 copies of
    one entry kept verify busy for minutes. Each member is judged once, the repeats counted."""

    def repeat(data: bytes) -> bytes:
        doc = json.loads(data)
        doc["captures"] = doc["captures"] * 20_000
        return json.dumps(doc).encode()

    wacz = rewritten(exported, tmp_path / "repeated.wacz", MANIFEST, repeat)
    result, peak = run_measured("verify", str(wacz), "--json", "--trust", str(sealed.public),
                                env=home_env(auditor_home), timeout=120)
    assert result.returncode == 3, result.stderr
    report = json.loads(result.stdout)
    parts = [f["message"] for f in fails(report) if (f["check"], f["subject"]) == (
        "wacz.part", MANIFEST)]
    assert any("captures names a member more than once (39,998 repeats" in m for m in parts)
    assert peak < MEMORY_BOUND, f"{peak >> 20} MiB"


def test_json_of_many_small_values_is_refused_before_it_is_parsed(
    sealed: SealedCase, exported: Path, auditor_home: Path, tmp_path: Path
) -> None:
    """15 MiB of ``{},`` (under the 16 MiB cap of datapackage.json) parse into some 380 MB of
    Python objects: every JSON prov reads is refused past one value per 24 bytes of its cap
    (``untrusted.load_json``), a finding of the part it spoils."""
    junk = b"[" + b"{}," * (5 << 20) + b"{}]"
    wacz = rewritten(exported, tmp_path / "dense.wacz", "datapackage.json", lambda _: junk)
    result, peak = run_measured("verify", str(wacz), "--json", "--trust", str(sealed.public),
                                env=home_env(auditor_home))
    assert result.returncode == 3, result.stderr
    report = json.loads(result.stdout)
    [part] = [f for f in fails(report) if f["check"] == "wacz.part"
              and f["subject"] == "datapackage.json"]
    assert "JSON of 10,485,762 values" in part["message"]
    assert peak < MEMORY_BOUND, f"{peak >> 20} MiB"


# -- random damage: never a crash ---------------------------------------------------------------

FIELDS = {  # offset from the signature, struct format: central directory / local header
    "central": {"flags": (8, "<H"), "method": (10, "<H"), "crc": (16, "<I"), "csize": (20, "<I"),
                "usize": (24, "<I"), "namelen": (28, "<H"), "extralen": (30, "<H"),
                "offset": (42, "<I")},
    "local": {"flags": (6, "<H"), "method": (8, "<H"), "crc": (14, "<I"), "csize": (18, "<I"),
              "usize": (22, "<I"), "namelen": (26, "<H"), "extralen": (28, "<H")},
}
damage = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**7), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10**7)),
    st.tuples(st.just("insert"), st.integers(0, 10**7), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("zero"), st.integers(0, 10**7), st.integers(1, 64)),
    st.tuples(st.just("field"), st.sampled_from(sorted(FIELDS)), st.integers(0, 100),
              st.sampled_from(sorted(FIELDS["local"])),
              st.sampled_from([0, 1, 8, 12, 14, 99, 0x41, 0xFFFF, 0xFFFFFFFF, 2**31])),
)


def damaged(data: bytes, changes: list[tuple[Any, ...]]) -> bytes:
    out = bytearray(data)
    for change in changes:
        kind, at = change[0], change[1]
        if kind == "field":
            signature = b"PK\x01\x02" if at == "central" else b"PK\x03\x04"
            starts = [i for i in range(len(out) - 4) if out[i : i + 4] == signature]
            if not starts:
                continue
            start = starts[change[2] % len(starts)]
            offset, fmt = FIELDS[at][change[3]]
            width = struct.calcsize(fmt)
            if start + offset + width <= len(out):
                struct.pack_into(fmt, out, start + offset, change[4] % (1 << (8 * width)))
            continue
        if not out:
            break
        at %= len(out)
        if kind == "flip":
            out[at] ^= change[2]
        elif kind == "cut":
            del out[at:]
        elif kind == "insert":
            out[at:at] = change[2]
        else:
            out[at : at + change[2]] = bytes(len(out[at : at + change[2]]))
    return bytes(out)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(changes=st.lists(damage, min_size=1, max_size=3))
def test_random_damage_never_crashes_verify(
    sealed: SealedCase, exported: Path, changes: list[tuple[Any, ...]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever is changed in the file, verify returns a report or a ProvError whose exit
    code is not 1, exactly what the command line turns into its exit code; and a report that
    passes has every member's bytes as exported."""
    original = exported.read_bytes()
    data = damaged(original, changes)
    with tempfile.TemporaryDirectory() as work:
        monkeypatch.setenv("PROV_HOME", str(Path(work) / "home"))
        target = Path(work) / "export.wacz"
        target.write_bytes(data)
        try:
            report = api.verify(target, trust_files=[sealed.public], remember=False, jobs=1)
        except ProvError as exc:  # main() exits with exc.exit_code
            assert exc.exit_code not in (0, 1), repr(exc)
            return
        if report.ok and data != original:
            with zipfile.ZipFile(exported) as theirs, zipfile.ZipFile(target) as ours:
                assert sorted(theirs.namelist()) == sorted(ours.namelist())
                for name in theirs.namelist():
                    assert ours.read(name) == theirs.read(name), name
