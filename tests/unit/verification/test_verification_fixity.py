"""provenance.verification.fixity: sealed WARC files judged by their sha256 alone, in worker
processes or in this one, never inflated; a digest streamed elsewhere stands for its file."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest

from provenance.base.report import Report
from provenance.custody import merkle
from provenance.verification.fixity import NOT_CHECKED, FixityJudge, Hashes, sealed_warcs


def files(root: Path, sizes: list[int]) -> dict[str, bytes]:
    """WARC-named files of random bytes under ``root/c`` (never a WARC: fixity reads none),
    listed by a seal there (unsigned: only a verify judges it): their digests by
    case-relative name."""
    (root / "c").mkdir()
    out = {}
    for i, size in enumerate(sizes):
        data = os.urandom(size)
        (root / "c" / f"data-{i:05d}.warc.gz").write_bytes(data)
        out[f"c/data-{i:05d}.warc.gz"] = hashlib.sha256(data).digest()
    write_seal(root / "c", [rel.split("/")[1] for rel in out])
    return out


def write_seal(folder: Path, names: list[str]) -> None:
    """A seal envelope listing ``names`` as WARCs, with no signature."""
    statement = {"subject": [{"name": n, "digest": {"sha256": "00" * 32}} for n in names],
                 "predicate": {"records": dict.fromkeys(names, 1)}}
    payload = base64.b64encode(json.dumps(statement).encode()).decode()
    (folder / "seal.dsse.json").write_text(json.dumps(
        {"payload": payload, "payloadType": "application/vnd.in-toto+json", "signatures": []}))


def judged(root: Path, sealed: dict[str, bytes], *, jobs: int = 1,
           known: dict[str, bytes] | None = None) -> tuple[list[bool], list[tuple[str, str]]]:
    report = Report(str(root), "case")
    judge = FixityJudge(root, report, jobs=jobs, known=known)
    try:
        judge.plan(["c"])
        oks = [judge.check(rel, digest, 1, merkle.TreeBuilder()) for rel, digest in
               sealed.items()]
    finally:
        judge.close()
    return oks, [(f.status, f.check) for f in report.findings]


@pytest.mark.parametrize("jobs", [1, 2])
def test_sealed_files_pass_in_any_order(tmp_path: Path, jobs: int,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("provenance.verification.fixity.POOL_MIN_BYTES", 1)  # workers even here
    sealed = files(tmp_path, [0, 1, 70_000, 3 << 20, 10])
    backwards = dict(reversed(sealed.items()))  # asked out of the planned order
    assert judged(tmp_path, backwards, jobs=jobs) == ([True] * 5, [])


def test_a_changed_byte_fails_with_both_digests(tmp_path: Path) -> None:
    sealed = files(tmp_path, [5000, 5000])
    path = tmp_path / "c" / "data-00001.warc.gz"
    data = bytearray(path.read_bytes())
    data[4321] ^= 0x01
    path.write_bytes(bytes(data))
    report = Report(str(tmp_path), "case")
    judge = FixityJudge(tmp_path, report, jobs=1)
    judge.plan(["c"])
    assert judge.check("c/data-00001.warc.gz", sealed["c/data-00001.warc.gz"], None,
                       merkle.TreeBuilder()) is False
    judge.close()
    [finding] = report.findings
    assert (finding.status, finding.check, finding.subject) == (
        "fail", "file.digest", "c/data-00001.warc.gz")
    assert finding.expected == "sha256:" + sealed["c/data-00001.warc.gz"].hex()
    assert finding.found == "sha256:" + hashlib.sha256(data).hexdigest()


def test_missing_or_not_regular_fails(tmp_path: Path) -> None:
    sealed = files(tmp_path, [10, 10])
    (tmp_path / "c" / "data-00000.warc.gz").unlink()
    os.mkfifo(tmp_path / "c" / "data-00002.warc.gz")  # never opened, never blocks
    sealed["c/data-00002.warc.gz"] = hashlib.sha256(b"").digest()
    oks, findings = judged(tmp_path, sealed)
    assert oks == [False, True, False]
    assert findings == [("fail", "file.missing"), ("fail", "file.missing")]


def test_a_known_digest_stands_for_its_file(tmp_path: Path) -> None:
    """A bucket's object, hashed as it streamed by: its placeholder is never read."""
    sealed = files(tmp_path, [100])
    (tmp_path / "c" / "data-00000.warc.gz").write_bytes(b"")  # the placeholder
    rel = "c/data-00000.warc.gz"
    assert judged(tmp_path, sealed, known=sealed) == ([True], [])
    assert judged(tmp_path, sealed, known={rel: hashlib.sha256(b"other").digest()}) == (
        [False], [("fail", "file.digest")])
    assert judged(tmp_path, sealed) == ([False], [("fail", "file.digest")])  # without it


def test_what_fixity_leaves_to_a_full_verify() -> None:
    assert {"record.blockDigest", "record.payloadDigest", "seal.recordsRoot",
            "seal.records"} <= set(NOT_CHECKED)


def test_hashing_started_before_the_verifier_serves_it(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """`verify --fixity` starts hashing a case's capture folders before the rest of the
    verifier loads; the judge then takes the digests from it, and judges as before."""
    monkeypatch.setattr("provenance.verification.fixity.POOL_MIN_BYTES", 1)
    folder = tmp_path / "captures" / "2026" / "01" / "02" / "018e0955-c6fa-70a1-a2a3-a4a5a6a7a8a9"
    folder.mkdir(parents=True)
    data = os.urandom(100_000)
    (folder / "data-00000.warc.gz").write_bytes(data)
    (folder / "index.cdxj").write_bytes(b"not a WARC: not hashed ahead")
    write_seal(folder, ["data-00000.warc.gz"])
    rel = folder.relative_to(tmp_path).as_posix() + "/data-00000.warc.gz"
    hashes = Hashes.start(tmp_path, jobs=2)
    try:
        assert hashes.planned
        report = Report(str(tmp_path), "case")
        judge = FixityJudge(tmp_path, report, hashes=hashes)
        judge.plan(["ignored: planned already"])
        assert judge.check(rel, hashlib.sha256(data).digest(), None, merkle.TreeBuilder())
        assert not judge.check(rel.replace("data-", "gone-"), b"\0" * 32, None,
                               merkle.TreeBuilder())
        assert [(f.status, f.check) for f in report.findings] == [("fail", "file.missing")]
    finally:
        hashes.close()
    empty = Hashes.start(tmp_path / "not-a-case")  # nothing there: nothing hashed, no error
    assert empty.planned
    empty.close()


def test_a_digest_a_worker_did_not_give_is_computed_here(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Work cancelled in a pool shut down (or lost with a killed worker) is hashed in this
    process: a verdict never rests on a worker's failure, and nothing crashes."""
    from provenance.verification.fixity import Hashes

    monkeypatch.setattr("provenance.verification.fixity.POOL_MIN_BYTES", 1)
    sealed = files(tmp_path, [200_000] * 6)
    hashes = Hashes(tmp_path, jobs=2)
    hashes.plan(["c"])
    hashes.close()  # what was queued for the workers is cancelled
    try:
        assert {rel: hashes.digest(rel) for rel in sealed} == sealed
    finally:
        hashes.close()


def test_only_the_warcs_a_seal_lists_are_hashed_ahead(tmp_path: Path) -> None:
    """A file no seal names is never read ahead, whatever its name or size (a sparse file of
    terabytes costs nothing to make); a name that leaves the folder is never taken."""
    folder = tmp_path / "c"
    folder.mkdir()
    write_seal(folder, ["data-00001.warc.gz", "data-00000.warc", "index.cdxj", "../x.warc",
                        "a/b.warc.gz", ".."])
    assert sealed_warcs(folder) == ["data-00000.warc", "data-00001.warc.gz"]
    with open(folder / "added.warc.gz", "wb") as fh:
        fh.truncate(1 << 40)
    (folder / "data-00001.warc.gz").write_bytes(b"sealed")
    hashes = Hashes(tmp_path, jobs=2)
    try:
        hashes.plan(["c"])
        assert hashes.drop("c/data-00001.warc.gz") == 6  # planned
        assert hashes.drop("c/added.warc.gz") == 0  # never planned
    finally:
        hashes.close()


def test_a_capture_folder_that_is_a_symlink_lists_nothing(tmp_path: Path) -> None:
    """Its seal and files lie outside the case: never read ahead (the layout walk fails it)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_seal(elsewhere, ["data-00000.warc.gz"])
    (elsewhere / "data-00000.warc.gz").write_bytes(b"outside the case")
    assert sealed_warcs(elsewhere) == ["data-00000.warc.gz"]
    os.symlink(elsewhere, tmp_path / "c")
    assert sealed_warcs(tmp_path / "c") == []


@pytest.mark.parametrize("seal", [b"", b"[]", b"{}", b'{"payload": "%%%"}', b'{"payload": []}',
                                  b'{"payload": "W10="}', b'{"payload": "e30="}'])
def test_a_seal_that_cannot_be_read_lists_nothing(tmp_path: Path, seal: bytes) -> None:
    (tmp_path / "seal.dsse.json").write_bytes(seal)
    assert sealed_warcs(tmp_path) == []
    assert sealed_warcs(tmp_path / "missing") == []


def test_the_seal_cap_is_verifys() -> None:
    from provenance.signing.dsse import MAX_ENVELOPE
    from provenance.verification.fixity import MAX_SEAL

    assert MAX_SEAL == MAX_ENVELOPE


def test_closing_gives_up_a_file_nobody_asked_for(tmp_path: Path) -> None:
    """A seal (forged, say) lists a sparse file of a terabyte: a worker starts hashing it,
    nobody asks for it, and closing does not wait the hours it would take; a digest asked
    for after that is computed here."""
    folder = tmp_path / "c"
    folder.mkdir()
    write_seal(folder, ["data-00000.warc.gz", "data-00001.warc.gz"])
    with open(folder / "data-00000.warc.gz", "wb") as fh:
        fh.truncate(1 << 40)
    (folder / "data-00001.warc.gz").write_bytes(b"sealed")
    hashes = Hashes(tmp_path, jobs=2)
    try:
        hashes.plan(["c"])
        assert hashes.digest("c/data-00001.warc.gz") == hashlib.sha256(b"sealed").digest()
    finally:
        hashes.close()
    (folder / "data-00000.warc.gz").write_bytes(b"small now")
    assert hashes.digest("c/data-00000.warc.gz") == hashlib.sha256(b"small now").digest()
    hashes.close()
