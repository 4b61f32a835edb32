"""`prov verify` under attack (issue 14, points 1, 4 and 5), through the real command.

An attacker who can write the case or package, but holds no trusted key, must not be able to
(1) choose what kind of target it is verified as, or add a file that passes silently; (4)
crash, hang or exhaust verify, hiding the findings made before; (5) forge the report on the
verifier's terminal with the names it chooses. Each test builds one attack on a copy of a
sealed case (``test_tamper``'s fixtures) or on a package exported from it, and asserts the
exit code and the finding's name and place.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import test_tamper
from helpers import checked, gzip_bomb, home_env, prov_command
from helpers import run_prov_at as run_prov
from test_tamper import (
    SealedCase,
    fails,
    flip_payload_byte,
    names,
    verify_json,
    warc_of,
)

from provenance.base.report import KEEP
from provenance.exports.wacz import MANIFEST

# test_tamper's fixtures: a sealed case of two captures, a fresh copy of it, an empty home
sealed = test_tamper.sealed
copy = test_tamper.copy
auditor_home = test_tamper.auditor_home


def report_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert "Traceback" not in result.stderr, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def verify_package(home: Path, target: Path, *args: str | Path) -> tuple[int, dict[str, Any]]:
    """`prov verify --json` of a package or proof: exit 0 or 3, a report, no traceback."""
    result = run_prov(home, "verify", target, "--json", *args)
    assert result.returncode in (0, 3), (result.returncode, result.stderr)
    return result.returncode, report_of(result)


def failed(report: dict[str, Any], check: str, subject: str) -> list[dict[str, Any]]:
    return [f for f in fails(report) if f["check"] == check and f["subject"] == subject]


def capture_id(sealed: SealedCase, index: int = 0) -> str:
    return sealed.captures[index].rsplit("/", 1)[-1]


@pytest.fixture
def other(sealed: SealedCase, tmp_path: Path) -> Path:
    """A second copy of the case, for commands that append to it (disclose, export)."""
    target = tmp_path / "other"
    shutil.copytree(sealed.root, target, symlinks=True)
    return target


def disclosure(sealed: SealedCase, case: Path, out: Path) -> Path:
    checked(run_prov(sealed.home, "disclose", "--case", case, "--capture", capture_id(sealed),
                     "-o", out))
    return out


# -- 1. the kind of target cannot be hijacked --------------------------------------------------


def test_package_files_in_a_case_do_not_make_it_a_package(
    sealed: SealedCase, copy: Path, other: Path, auditor_home: Path, tmp_path: Path
) -> None:
    place = flip_payload_byte(copy, sealed)
    package = disclosure(sealed, other, tmp_path / "package")
    for item in package.iterdir():  # a real disclosure package dropped into the case's root
        if item.is_dir():
            shutil.copytree(item, copy / item.name, dirs_exist_ok=True)
        else:
            shutil.copy2(item, copy / item.name)
    code, report = verify_json(auditor_home, copy, "--trust", sealed.public, "--strict")
    assert code == 3
    assert (report["kind"], report["kindReason"]) == ("case", "case.json at its root")
    for name in ("disclosure.json", "records.warc.gz", "log-entries.jsonl", "checkpoint"):
        assert failed(report, "case.unexpected", name), name
    assert any(names(f["subject"], place) for f in fails(report)), fails(report)
    # the package itself is still a disclosure, and says why
    code, report = verify_package(auditor_home, package, "--trust", sealed.public)
    assert (report["kind"], report["kindReason"]) == ("disclosure", "disclosure.json at its root")


@pytest.mark.parametrize("where", ["extra.warc.gz", "custody/extra.warc.gz", "month"])
def test_a_file_added_anywhere_fails(
    where: str, sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    if where == "month":
        where = "/".join(sealed.captures[0].split("/")[:3]) + "/extra.warc.gz"
    shutil.copy2(copy / warc_of(sealed), copy / where)
    code, report = verify_json(auditor_home, copy, "--trust", sealed.public)
    assert code == 3
    assert failed(report, "case.unexpected", where), fails(report)


def test_files_of_one_package_in_another_fail(
    sealed: SealedCase, other: Path, auditor_home: Path, tmp_path: Path
) -> None:
    """A bag with a whole disclosure package dropped into it: whichever kind is decided, the
    other's files are outside its layout."""
    bag = tmp_path / "bag"
    checked(run_prov(sealed.home, "export", "bag", "--case", other, "-o", bag))
    (bag / "extra.warc.gz").write_bytes(b"")
    code, report = verify_package(auditor_home, bag, "--trust", sealed.public)
    assert code == 3 and report["kind"] == "bag"
    assert failed(report, "bag.unexpected", "extra.warc.gz")
    (bag / "extra.warc.gz").unlink()
    package = disclosure(sealed, other, tmp_path / "package")
    for item in package.iterdir():
        if item.is_dir():
            shutil.copytree(item, bag / item.name, dirs_exist_ok=True)
        else:
            shutil.copy2(item, bag / item.name)
    code, report = verify_package(auditor_home, bag, "--trust", sealed.public, "--strict")
    assert code == 3 and report["kind"] == "disclosure"
    for name in ("bagit.txt", "data", "tagmanifest.dsse.json"):
        assert failed(report, "disclosure.unexpected", name), name


def test_as_pins_the_kind(sealed: SealedCase, copy: Path, auditor_home: Path) -> None:
    code, report = verify_json(auditor_home, copy, "--trust", sealed.public, "--as", "case")
    assert code == 0, fails(report)
    assert (report["kind"], report["kindReason"]) == ("case", "--as case")
    result = run_prov(auditor_home, "verify", copy, "--json", "--as", "disclosure")
    report = report_of(result)
    assert result.returncode == 3
    assert (report["kind"], report["kindReason"]) == ("disclosure", "--as disclosure")
    assert failed(report, "disclosure.manifest", "disclosure.json")
    table = run_prov(auditor_home, "verify", copy, "--trust", sealed.public)
    assert f"VERIFIED: {copy} (case, case.json at its root)" in table.stdout


def test_a_deleted_custody_log_is_an_integrity_failure(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    (copy / "custody" / "log.jsonl").unlink()
    code, report = verify_json(auditor_home, copy, "--trust", sealed.public)
    assert code == 3 and report["kind"] == "case"
    [finding] = failed(report, "log.missing", "custody/log.jsonl")
    assert "custody log missing" in finding["message"]


def test_a_proof_file_is_verified_as_a_proof(
    sealed: SealedCase, copy: Path, auditor_home: Path, tmp_path: Path
) -> None:
    proof = tmp_path / "proof.json"
    checked(run_prov(sealed.home, "log", "prove", "--entry", "1", "-o", proof, "--case", copy))
    code, report = verify_package(auditor_home, proof, "--trust", sealed.public)
    assert code == 0 and (report["kind"], report["kindReason"]) == ("proof", "a JSON file")
    proof.write_text(proof.read_text().replace('"index": 1', '"index": 0'))
    code, report = verify_package(auditor_home, proof, "--trust", sealed.public)
    assert code == 3 and failed(report, "proof", "proof.json")


@pytest.mark.parametrize("pinned", [False, True], ids=["decided", "as-bag"])
def test_a_bag_without_bagit_txt_is_a_damaged_bag(
    pinned: bool, sealed: SealedCase, other: Path, auditor_home: Path, tmp_path: Path
) -> None:
    """Deleting the marker does not make evidence "not a target" (exit 4): what is left of
    a bag is a bag, and it fails."""
    bag = tmp_path / "bag"
    checked(run_prov(sealed.home, "export", "bag", "--case", other, "-o", bag))
    (bag / "bagit.txt").unlink()
    code, report = verify_package(auditor_home, bag, "--trust", sealed.public,
                                  *(["--as", "bag"] if pinned else []))
    assert code == 3 and report["kind"] == "bag"
    assert report["kindReason"] == ("--as bag" if pinned else
                                    "bag-info.txt at its root, bagit.txt missing (a damaged bag)")
    [finding] = failed(report, "bag.version", "bagit.txt")
    assert "missing" in finding["message"]
    for name in [p.name for p in bag.iterdir() if p.name != "data"]:  # only data/ is left
        (bag / name).unlink()
    code, report = verify_package(auditor_home, bag, "--trust", sealed.public)
    assert code == 3 and report["kindReason"] == ("data/case.json at its root, bagit.txt "
                                                  "missing (a damaged bag)")
    shutil.rmtree(bag / "data")
    (bag / "notes.txt").write_text("nothing of any kind\n")
    result = run_prov(auditor_home, "verify", bag, "--trust", sealed.public)
    assert result.returncode == 4 and "not a case or package" in result.stderr


def test_a_disclosure_without_its_manifest_is_a_damaged_disclosure(
    sealed: SealedCase, other: Path, auditor_home: Path, tmp_path: Path
) -> None:
    package = disclosure(sealed, other, tmp_path / "package")
    (package / "disclosure.json").unlink()
    code, report = verify_package(auditor_home, package, "--trust", sealed.public)
    assert code == 3 and report["kind"] == "disclosure"
    assert report["kindReason"].endswith("disclosure.json missing (a damaged disclosure)")
    assert failed(report, "disclosure.manifest", "disclosure.json")


def test_a_case_without_case_json_and_custody_is_a_damaged_case(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    (copy / "case.json").unlink()
    shutil.rmtree(copy / "custody")
    code, report = verify_json(auditor_home, copy, "--trust", sealed.public)
    assert code == 3 and (report["kind"], report["kindReason"]) == (
        "case", "captures at its root, case.json missing (a damaged case)")
    assert failed(report, "case.file", "case.json")


@pytest.mark.parametrize("damage", ["first-byte", "cut"])
def test_a_wacz_with_a_damaged_zip_is_a_damaged_wacz(
    damage: str, sealed: SealedCase, other: Path, auditor_home: Path, tmp_path: Path
) -> None:
    wacz = tmp_path / "export.wacz"
    checked(run_prov(sealed.home, "export", "wacz", "--case", other, "-o", wacz))
    data = wacz.read_bytes()
    wacz.write_bytes(b"Q" + data[1:] if damage == "first-byte" else data[:100])
    code, report = verify_package(auditor_home, wacz, "--trust", sealed.public)
    assert code == 3 and report["kind"] == "wacz"
    if damage == "first-byte":  # the end record still says ZIP: the local header is damaged
        assert report["kindReason"].startswith("a ZIP end record")
        assert fails(report)
    else:
        assert report["kindReason"] == "named .wacz, not a ZIP (a damaged WACZ)"
        assert failed(report, "wacz.zip", "export.wacz")


@pytest.mark.parametrize("change", ["added", "cut", "large"])
def test_a_certificate_chain_not_named_by_its_sha256_fails(
    change: str, sealed: SealedCase, copy: Path, other: Path, auditor_home: Path,
    tmp_path: Path
) -> None:
    """certs/ is content-addressed (certs/<sha256>.pem): a chain added under any 64-hex name,
    or changed in place, passed silently when no entry named it (a checkpoint token's chain is
    named by none). In a case and in a disclosure package's copy of certs/ alike."""
    import hashlib

    from tsa import LocalTSA

    from provenance.timestamps.tsatrust import MAX_CHAIN_FILE

    pem = LocalTSA().root_pem  # a real chain, as a TSA sends it
    name = {"added": "a" * 64 + ".pem", "cut": hashlib.sha256(pem).hexdigest() + ".pem"}.get(
        change, "")
    body = {"added": pem, "cut": pem[:-10], "large": pem + b"\n" * MAX_CHAIN_FILE}[change]
    name = name or hashlib.sha256(body).hexdigest() + ".pem"
    check = "certs.chain" if change == "large" else "file.digest"
    package = disclosure(sealed, other, tmp_path / "package")
    for root in (copy, package):
        (root / "certs").mkdir(exist_ok=True)
        (root / "certs" / name).write_bytes(body)
        code, report = verify_package(auditor_home, root, "--trust", sealed.public)
        assert code == 3, fails(report)
        [finding] = failed(report, check, f"certs/{name}")
        assert ("not its name" if check == "file.digest" else "larger than") in (
            finding["message"])


def test_folders_in_a_staged_capture_fail(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    """captures/.partial/ holds crash leftovers (a warning, not evidence), so nothing else
    looked inside them: folders nested there, a symlink deep within, and a staged folder not
    named by a capture id passed with VERIFIED (found by the hostile-tree generator)."""
    staged = copy / "captures" / ".partial" / "01a24736-034d-79de-87cc-5ea422901b08"
    deep = staged / "d" / "d" / "d"
    deep.mkdir(parents=True)
    (deep / "x.checkpoint").symlink_to("/etc/hostname")
    (copy / "captures" / ".partial" / "w\xa0e").mkdir()
    code, report = verify_json(auditor_home, copy, "--trust", sealed.public)
    assert code == 3, fails(report)
    [finding] = failed(report, "case.unexpected", "captures/.partial/01a24736-034d-79de-87cc-"
                       "5ea422901b08/d")
    assert "holds only files" in finding["message"]
    assert failed(report, "case.unexpected", "captures/.partial/w\xa0e"), fails(report)


@pytest.mark.parametrize("what", ["file", "fifo", "symlink"])
def test_a_staging_folder_that_is_no_folder_is_named_and_never_followed(
    sealed: SealedCase, copy: Path, auditor_home: Path, tmp_path: Path, what: str
) -> None:
    """``captures/.partial`` planted as a file, a FIFO or a symlink to a folder of staged
    captures elsewhere: named at its place, never opened or followed (nothing in the folder
    it names is reported as an interrupted capture, nor moved by `prov log repair`)."""
    partial = copy / "captures" / ".partial"
    outside = tmp_path / "elsewhere" / "01a24736-034d-79de-87cc-5ea422901b08"
    outside.mkdir(parents=True)
    (outside / "data-00000.warc.gz").write_bytes(b"x")
    if partial.is_dir():
        partial.rmdir()
    if what == "file":
        partial.write_bytes(b"not a folder")
    elif what == "fifo":
        os.mkfifo(partial)
    else:
        partial.symlink_to(outside.parent)
    code, report = verify_json(auditor_home, copy, "--trust", sealed.public)
    assert code == 3, fails(report)
    check = {"file": "case.unexpected", "fifo": "file.type", "symlink": "file.symlink"}[what]
    assert failed(report, check, "captures/.partial"), fails(report)
    assert not [f for f in report["findings"] if f["check"] == "capture.incomplete"]
    result = run_prov(sealed.home, "log", "repair", "--case", copy)
    assert result.returncode in (0, 3), result.stderr
    assert "Traceback" not in result.stderr
    assert (outside / "data-00000.warc.gz").read_bytes() == b"x"  # never moved


def test_a_staged_capture_that_is_a_file_or_link_fails_and_repair_sets_it_aside(
    sealed: SealedCase, copy: Path, auditor_home: Path, tmp_path: Path
) -> None:
    """Entries of ``captures/.partial`` that are not folders: a file under a capture id is
    not a staged capture (``case.unexpected``), a symlink to a sealed capture is never
    followed (``file.symlink``); repair moves both aside unread, so no capture folder in the
    case ever becomes a link."""
    partial = copy / "captures" / ".partial"
    partial.mkdir(exist_ok=True)
    as_file = partial / "01a24736-034d-79de-87cc-5ea422901b08"
    as_file.write_bytes(b"x")
    elsewhere = tmp_path / "sealed-elsewhere"
    shutil.copytree(copy / sealed.captures[0], elsewhere)
    link = partial / capture_id(sealed)
    link.symlink_to(elsewhere)
    code, report = verify_json(auditor_home, copy, "--trust", sealed.public)
    assert code == 3, fails(report)
    assert failed(report, "case.unexpected", f"captures/.partial/{as_file.name}"), fails(report)
    assert failed(report, "file.symlink", f"captures/.partial/{link.name}"), fails(report)
    result = run_prov(sealed.home, "log", "repair", "--case", copy)
    assert result.returncode == 0, result.stderr
    assert not os.path.lexists(link) and not os.path.lexists(as_file)
    assert (copy / "state" / "abandoned" / link.name).is_symlink()
    code, report = verify_json(auditor_home, copy, "--trust", sealed.public)
    assert code == 0, fails(report)


def test_repair_never_follows_a_link_in_captures(
    sealed: SealedCase, copy: Path, tmp_path: Path
) -> None:
    """`prov log repair` looked for unlogged seals with a glob that follows links, and read
    a seal and its tokens through them: a capture folder planted as a link is named and left,
    never read or logged."""
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(copy / sealed.captures[0], elsewhere)
    day = (copy / sealed.captures[0]).parent
    link = day / "01a24736-034d-79de-87cc-5ea422901b08"
    link.symlink_to(elsewhere)
    before = (copy / "custody" / "log.jsonl").read_bytes()
    result = run_prov(sealed.home, "log", "repair", "--case", copy)
    assert result.returncode == 0, result.stderr
    rel = f"{sealed.captures[0].rsplit('/', 1)[0]}/{link.name}"
    assert f"NOT logged: {rel} (not a folder: a link is never followed)" in result.stdout
    assert (copy / "custody" / "log.jsonl").read_bytes().startswith(before)
    assert rel.encode() not in (copy / "custody" / "log.jsonl").read_bytes()


def test_date_folders_of_unicode_digits_are_not_prov_s(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    """``\\d`` matches Arabic-Indic and other Unicode digits: a sealed capture copied under
    ``captures/\u0662\u0660\u0662\u0666/...`` was a capture folder of prov's form. prov's date
    folders are ASCII digits; any other is a name the layout does not have, never a capture."""
    year, month, day = "\u0662\u0660\u0662\u0666", "\u0661\u0662", "\u0660\u0666"
    target = copy / "captures" / year / month / day / capture_id(sealed)
    shutil.copytree(copy / sealed.captures[0], target)
    code, report = verify_json(auditor_home, copy, "--trust", sealed.public)
    assert code == 3, fails(report)
    assert failed(report, "case.unexpected", f"captures/{year}"), fails(report)
    rel = f"captures/{year}/{month}/{day}/{capture_id(sealed)}"
    assert failed(report, "capture.unexpected", rel), fails(report)
    assert not [f for f in report["findings"] if f["subject"] == rel and f["status"] != "fail"]


# -- 4. no input crashes, hangs or exhausts verify ---------------------------------------------


def test_deeply_nested_json_line_is_a_finding_and_the_rest_is_judged(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    place = flip_payload_byte(copy, sealed)
    log = copy / "custody" / "log.jsonl"
    index = log.read_bytes().count(b"\n")
    with open(log, "ab") as fh:
        fh.write(b"[" * 5000 + b"\n")
    code, report = verify_json(auditor_home, copy, "--trust", sealed.public)
    assert code == 3
    [finding] = failed(report, "log.entry", f"custody/log.jsonl entry {index}")
    assert "nested 5000 deep" in finding["message"]
    assert any(names(f["subject"], place) for f in fails(report)), fails(report)


def test_deep_folders_under_state_are_never_walked(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    made = []
    folder = copy / "state"
    try:
        for _ in range(1500):
            folder = folder / "d"
            folder.mkdir()
            made.append(folder)
        code, report = verify_json(auditor_home, copy, "--trust", sealed.public)
        assert code == 0, fails(report)
    finally:
        for path in reversed(made):  # pytest's own clean-up recurses over the depth
            path.rmdir()


def test_a_fifo_in_the_case_is_never_opened(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    warc = warc_of(sealed)
    (copy / warc).unlink()
    os.mkfifo(copy / warc)
    code, report = verify_json(auditor_home, copy, "--trust", sealed.public)
    assert code == 3
    assert failed(report, "file.type", warc)


def test_junk_log_lines_are_counted_not_stored(
    sealed: SealedCase, copy: Path, auditor_home: Path, tmp_path: Path
) -> None:
    junk = 1_000_000
    with open(copy / "custody" / "log.jsonl", "ab") as fh:
        fh.write(b"x\n" * junk)  # 2 MB
    out = tmp_path / "report.json"
    # the child's peak RSS, measured by a parent that runs nothing else
    measure = ("import resource, subprocess, sys; "
               "p = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], 'wb')); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode)")
    result = subprocess.run(
        [sys.executable, "-c", measure, str(out), *prov_command(), "verify", str(copy),
         "--json", "--trust", str(sealed.public)],
        env=home_env(auditor_home), capture_output=True, text=True, timeout=300, check=False)
    peak_kib, code = map(int, result.stdout.split())
    assert code == 3, result.stderr
    assert peak_kib < 200 * 1024, f"{peak_kib} KiB"
    report = json.loads(out.read_text())
    stored = [f for f in report["findings"] if f["check"] == "log.entry"]
    assert len(stored) == KEEP
    [omitted] = [o for o in report["omitted"] if o["check"] == "log.entry"]
    assert omitted == {"check": "log.entry", "status": "fail", "count": junk - KEEP}
    assert report["counts"]["fail"] >= junk
    table = run_prov(auditor_home, "verify", copy, "--trust", sealed.public)
    assert f"FAIL  log.entry                … and {junk - KEEP:,} more" in table.stdout


def gzip_bomb_warc(size: int) -> bytes:
    """One gzip member: a WARC resource record whose block is ``size`` zero bytes (whole MiB)."""
    head = (b"WARC/1.1\r\nWARC-Type: resource\r\nWARC-Record-ID: <urn:uuid:0>\r\n"
            b"WARC-Date: 2024-01-01T00:00:00Z\r\nContent-Length: %d\r\n\r\n" % size)
    assert size % (1 << 20) == 0
    return gzip_bomb(size >> 20, prefix=head, suffix=b"\r\n\r\n")


def test_gzip_bomb_is_a_finding_in_bounded_time(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    warc = warc_of(sealed)
    (copy / warc).write_bytes(gzip_bomb_warc(1 << 30) * 2)  # two members of 1 GiB each
    code, report = verify_json(auditor_home, copy, "--trust", sealed.public)
    assert code == 3
    [finding] = failed(report, "warc.format", warc)
    assert "decompression bomb" in finding["message"]


def test_non_pem_file_beside_a_bag_tag_manifest(
    sealed: SealedCase, other: Path, auditor_home: Path, tmp_path: Path
) -> None:
    bag = tmp_path / "bag"
    checked(run_prov(sealed.home, "export", "bag", "--case", other, "-o", bag))
    (bag / "tagmanifest.0123456789abcdef.pem").write_bytes(b"not a certificate\n")
    code, report = verify_package(auditor_home, bag, "--trust", sealed.public)
    assert code == 3 and report["kind"] == "bag"
    # a chain of a TSA the signed bag-info.txt does not name is an added file, never read
    assert failed(report, "timestamp.unlogged", "tagmanifest.0123456789abcdef.pem")


MALFORMED_MANIFESTS = {
    "certs not a list": {"certs": 5},
    "a capture not an object": {"captures": ["x"]},
    "log not an object": {"log": []},
    "signer not a name": {"signer": {"x": 1}},
}


@pytest.mark.parametrize("edit", MALFORMED_MANIFESTS, ids=list(MALFORMED_MANIFESTS))
def test_malformed_wacz_manifest_fields(
    edit: str, sealed: SealedCase, other: Path, auditor_home: Path, tmp_path: Path
) -> None:
    wacz = tmp_path / "export.wacz"
    if not wacz.exists():
        checked(run_prov(sealed.home, "export", "wacz", "--case", other, "-o", wacz))
    edited = tmp_path / "edited.wacz"
    with zipfile.ZipFile(wacz) as src, zipfile.ZipFile(edited, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == MANIFEST:
                doc = json.loads(data)
                doc.update(MALFORMED_MANIFESTS[edit])
                data = json.dumps(doc).encode()
            dst.writestr(info, data)
    code, report = verify_package(auditor_home, edited, "--trust", sealed.public)
    assert code == 3 and report["kind"] == "wacz"
    assert any(f["check"] == "wacz.part" for f in fails(report)), fails(report)


@pytest.mark.parametrize("damage", ["deflate", "method"])
def test_a_damaged_wacz_member_is_a_finding(
    damage: str, sealed: SealedCase, other: Path, auditor_home: Path, tmp_path: Path
) -> None:
    """A flipped byte in a deflated member made zipfile raise zlib.error, and an unknown
    compression method NotImplementedError: exit 1 (found by the hostile-tree generator)."""
    wacz = tmp_path / "export.wacz"
    checked(run_prov(sealed.home, "export", "wacz", "--case", other, "-o", wacz))
    data = bytearray(wacz.read_bytes())
    with zipfile.ZipFile(wacz) as zf:
        info = zf.getinfo("prov/log-entries.jsonl")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    if damage == "deflate":
        data[start:start + 4] = bytes(b ^ 0xFF for b in data[start:start + 4])
    else:  # the central directory's method field, which zipfile trusts
        at = next(i for i in range(len(data)) if data.startswith(b"PK\x01\x02", i)
                  and data[i + 46:i + 46 + len(info.filename)] == info.filename.encode())
        data[at + 10:at + 12] = (99).to_bytes(2, "little")
    wacz.write_bytes(bytes(data))
    code, report = verify_package(auditor_home, wacz, "--trust", sealed.public)
    assert code == 3 and report["kind"] == "wacz"
    found = [f for f in fails(report) if f["subject"] == "prov/log-entries.jsonl"]
    assert found and {f["check"] for f in found} <= {"wacz.member", "wacz.part"}, fails(report)


@pytest.mark.parametrize("kind", ["fifo", "symlink"])
def test_fifo_or_symlink_in_a_disclosure_package(
    kind: str, sealed: SealedCase, other: Path, auditor_home: Path, tmp_path: Path
) -> None:
    package = disclosure(sealed, other, tmp_path / "package")
    records = package / "records.warc.gz"
    kept = tmp_path / "records.warc.gz"
    records.rename(kept)
    if kind == "fifo":
        os.mkfifo(records)
    else:
        records.symlink_to(kept)
    code, report = verify_package(auditor_home, package, "--trust", sealed.public)  # no hang
    assert code == 3 and report["kind"] == "disclosure"
    assert failed(report, "file.type" if kind == "fifo" else "file.symlink", "records.warc.gz")


# -- 5. the report cannot be forged on a terminal ----------------------------------------------

FORGED = "x\r\x1b[2K\x1b[1A\x1b[2K\x1b[32mVERIFIED: fake (case): 9 pass\x1b[0m"


def test_control_characters_in_names_are_escaped(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    (copy / FORGED).write_bytes(b"")
    os.close(os.open(os.fsencode(copy) + b"/not-utf8-\xff", os.O_CREAT | os.O_WRONLY, 0o644))
    table = run_prov(auditor_home, "verify", copy, "--trust", sealed.public)
    assert table.returncode == 3, table.stderr
    assert "\x1b" not in table.stdout and "\r" not in table.stdout
    assert "x\\r\\x1b[2K\\x1b[1A" in table.stdout
    assert "not-utf8-\\xff" in table.stdout
    assert table.stdout.splitlines()[-1].startswith("FAILED: ")
    raw = run_prov(auditor_home, "verify", copy, "--trust", sealed.public, "--json")
    assert raw.returncode == 3
    assert "\x1b" not in raw.stdout and "\r" not in raw.stdout
    report = report_of(raw)
    assert failed(report, "case.unexpected", FORGED)


def test_error_messages_are_escaped(auditor_home: Path, tmp_path: Path) -> None:
    result = run_prov(auditor_home, "verify", tmp_path / "gone\r\x1b[2KVERIFIED")
    assert result.returncode == 4
    assert "\x1b" not in result.stderr and "\r" not in result.stderr
    assert "gone\\r\\x1b[2KVERIFIED: no such file or folder" in result.stderr


def test_a_zip_of_too_many_members_is_not_read(auditor_home: Path, tmp_path: Path) -> None:
    """zipfile builds an object per member before any check: 180,000 members (a 10 MB
    central directory) would cost more memory than the rest of verify."""
    bomb = tmp_path / "many.wacz"
    with zipfile.ZipFile(bomb, "w", allowZip64=True) as zf:
        for i in range(180_000):
            zf.writestr(f"archive/{i}", b"")
    code, report = verify_package(auditor_home, bomb)
    assert code == 3 and (report["kind"], report["kindReason"]) == ("wacz", "a ZIP file")
    [finding] = failed(report, "wacz.member", "(central directory)")
    assert "members were not read" in finding["message"]
