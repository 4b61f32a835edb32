"""Selective disclosure (issue 3, point 4): `prov disclose` writes a package with some records of
one capture, and `prov verify PACKAGE` checks it alone, as an auditor given only the package and
the founding public key would: a fresh $PROV_HOME, `--trust`, the TSA's root by `--tsa-root`.

One case is captured once per module (the demo site on 127.0.0.1, stamped by a local RFC 3161
TSA); every test works on copies of the packages it makes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import make_case, prov_env, run_measured, run_prov
from tsa import LocalTSA

from archive.warc.reader import WarcReader
from provenance.cli.demo import serve_site
from provenance.signing.keys import SigningKey

RECORDS = "records.warc.gz"


@dataclass(frozen=True)
class Disclosing:
    base: Path
    env: dict[str, str]
    case: Path
    pub: Path
    tsa_root: Path
    capture_id: str
    site: str

    def disclose(self, name: str, *args: str) -> Path:
        out = self.base / "packages" / name
        if not out.exists():
            proc = run_prov("disclose", "--case", str(self.case), "--capture", self.capture_id,
                            "-o", str(out), *args, env=self.env)
            assert proc.returncode == 0, proc.stderr
        return out


def audit(package: Path, pub: Path, tsa_root: Path, tmp: Path) -> tuple[int, dict[str, Any]]:
    """`prov verify` of a package by an auditor with an empty $PROV_HOME."""
    env = prov_env(tmp / "auditor")
    proc = run_prov("verify", str(package), "--json", "--trust", str(pub),
                    "--tsa-root", str(tsa_root), env=env)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"verify printed no report: {proc.stderr}") from None
    assert "Traceback" not in proc.stderr
    return proc.returncode, report


def checks(report: dict[str, Any], status: str) -> set[str]:
    return {f["check"] for f in report["findings"] if f["status"] == status}


def subjects(report: dict[str, Any], status: str) -> set[str]:
    return {f["subject"] for f in report["findings"] if f["status"] == status}


def records(package: Path) -> list[tuple[str, str | None]]:
    with open(package / RECORDS, "rb") as fh:
        return [(head.warc_type, head.get("WARC-Target-URI")) for head in WarcReader(fh)]


@pytest.fixture(scope="module")
def tsa() -> Iterator[LocalTSA]:
    with LocalTSA() as running:
        yield running


@pytest.fixture(scope="module")
def disclosing(tmp_path_factory: pytest.TempPathFactory, tsa: LocalTSA) -> Disclosing:
    base = tmp_path_factory.mktemp("disclosure")
    env = prov_env(base)
    case, key_pub = make_case(base)
    with serve_site() as site:
        proc = run_prov("snapshot", "--case", str(case), "--json", "--tsa", tsa.url,
                        f"{site}/", f"{site}/article.html", f"{site}/images/logo.png", env=env)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    pub = base / "founding.pub"
    shutil.copy(key_pub, pub)
    root = base / "tsa-root.pem"
    root.write_bytes(tsa.root_pem)
    return Disclosing(base, env, case, pub, root, summary["captureId"], site)


def test_one_url_is_disclosed_alone_and_verifies(disclosing: Disclosing, tmp_path: Path) -> None:
    article = f"{disclosing.site}/article.html"
    package = disclosing.disclose("article", "--url", article)
    kinds = records(package)
    assert kinds, "no records in the package"
    assert {uri for _, uri in kinds} == {article}
    assert {kind for kind, _ in kinds} == {"request", "response", "metadata"}
    code, report = audit(package, disclosing.pub, disclosing.tsa_root, tmp_path)
    assert code == 0, [f for f in report["findings"] if f["status"] == "fail"]
    assert report["kind"] == "disclosure"
    passed = checks(report, "pass")
    assert {"disclosure.entries", "checkpoint", "seal.signature", "disclosure.proof",
            "trust.anchor", "timestamp"} <= passed
    manifest = json.loads((package / "disclosure.json").read_text())
    withheld = [r for r in manifest["records"] if not r.get("included")]
    assert withheld, "the other URLs' records should be listed as withheld"
    proven = {f["subject"] for f in report["findings"]
              if f["check"] == "disclosure.proof" and f["status"] == "pass"}
    assert len(proven) == len(manifest["records"])  # every record: shown, or proven to exist


def test_request_records_can_be_left_out(disclosing: Disclosing, tmp_path: Path) -> None:
    package = disclosing.disclose("no-requests", "--without-requests")
    kinds = records(package)
    assert "request" not in {kind for kind, _ in kinds}
    assert "response" in {kind for kind, _ in kinds}
    manifest = json.loads((package / "disclosure.json").read_text())
    left_out = [r for r in manifest["records"] if not r.get("included")]
    # a withheld record is its leaf hash and proof alone: its type would be an unbound claim
    assert left_out and all(set(r) == {"index", "file", "leafHash", "included", "proof"}
                            for r in left_out)
    assert all(len(bytes.fromhex(r["leafHash"])) == 32 for r in left_out)
    code, report = audit(package, disclosing.pub, disclosing.tsa_root, tmp_path)
    assert code == 0, [f for f in report["findings"] if f["status"] == "fail"]
    withheld = {f["subject"] for f in report["findings"] if f["check"] == "disclosure.proof"
                and f["status"] == "pass" and f["subject"].startswith("withheld record")}
    assert len(withheld) == len([r for r in manifest["records"] if not r.get("included")])
    assert len(withheld) >= len(left_out)


def test_an_untrusted_founding_key_fails(disclosing: Disclosing, tmp_path: Path) -> None:
    package = disclosing.disclose("article-trust", "--url", f"{disclosing.site}/article.html")
    other = tmp_path / "other"
    for args in (("keys", "generate", "--name", "other", "--unsafe-no-passphrase"),):
        assert run_prov(*args, env=prov_env(other)).returncode == 0
    stranger = other / "prov-home" / "keys" / "other.pub"
    code, report = audit(package, stranger, disclosing.tsa_root, tmp_path)
    assert code == 3
    assert "trust.anchor" in checks(report, "fail")


def _flip_payload(package: Path) -> str:
    """Change one letter of the first response's body and re-gzip its member."""
    data = (package / RECORDS).read_bytes()
    with open(package / RECORDS, "rb") as fh:
        offsets = [head.offset for head in WarcReader(fh)]
    for start, end in zip(offsets, [*offsets[1:], len(data)], strict=True):
        record = bytearray(gzip.decompress(data[start:end]))
        if b"WARC-Type: response" not in record:
            continue
        record[-10] ^= 0x20
        deflate = zlib.compressobj(6, zlib.DEFLATED, 31)
        member = deflate.compress(bytes(record)) + deflate.flush()
        (package / RECORDS).write_bytes(data[:start] + member + data[end:])
        return f"records.warc.gz @{start}"
    raise AssertionError("no response record in the package")


def _edit_json(name: str, change: Callable[[dict[str, Any]], None]) -> Callable[[Path], str]:
    def edit(package: Path) -> str:
        doc = json.loads((package / name).read_text())
        change(doc)
        (package / name).write_text(json.dumps(doc))
        return name
    return edit


def _withheld_leaf(package: Path) -> str:
    doc = json.loads((package / "disclosure.json").read_text())
    row = next(r for r in doc["records"] if not r.get("included"))
    row["leafHash"] = ("00" if row["leafHash"][:2] != "00" else "11") + row["leafHash"][2:]
    (package / "disclosure.json").write_text(json.dumps(doc))
    return f"withheld record {row['index']} "


def _log_line(package: Path) -> str:
    lines = (package / "log-entries.jsonl").read_bytes().split(b"\n")
    lines[-2] = lines[-2].replace(b'"payload":"', b'"payload":"e', 1)
    (package / "log-entries.jsonl").write_bytes(b"\n".join(lines))
    return "log-entries.jsonl"


def _drop_log_line(package: Path) -> str:
    lines = (package / "log-entries.jsonl").read_bytes().split(b"\n")
    (package / "log-entries.jsonl").write_bytes(b"\n".join([*lines[:-2], lines[-1]]))
    return "log-entries.jsonl"


def _checkpoint_root(package: Path) -> str:
    text = (package / "checkpoint").read_bytes().split(b"\n")
    root = bytearray(text[2])
    root[5] = ord("A") if root[5] != ord("A") else ord("B")
    text[2] = bytes(root)
    (package / "checkpoint").write_bytes(b"\n".join(text))
    return "checkpoint"


def _seal_byte(package: Path) -> str:
    data = bytearray((package / "seal.dsse.json").read_bytes())
    at = data.index(b'"payload":"') + 20
    data[at] = ord("A") if data[at] != ord("A") else ord("B")
    (package / "seal.dsse.json").write_bytes(bytes(data))
    return "seal.dsse.json"


def _delete_token(package: Path) -> str:
    token = next(package.glob("seal.*.tsr"))
    token.unlink()
    return token.name


def _extra_record(package: Path) -> str:
    data = (package / RECORDS).read_bytes()
    with open(package / RECORDS, "rb") as fh:
        first = [head.offset for head in WarcReader(fh)][:2]
    (package / RECORDS).write_bytes(data + data[first[0]:first[1]])
    return f"records.warc.gz @{len(data)}"


def _remove_records_file(package: Path) -> str:
    (package / RECORDS).unlink()
    return RECORDS


MUTATIONS: dict[str, Callable[[Path], str]] = {
    "payload byte of a disclosed record": _flip_payload,
    "leaf hash of a withheld record": _withheld_leaf,
    "record count in the manifest": _edit_json(
        "disclosure.json", lambda d: d.update(recordsTreeSize=d["recordsTreeSize"] + 1)),
    "a log line's signed payload": _log_line,
    "a log line removed": _drop_log_line,
    "checkpoint root": _checkpoint_root,
    "seal byte": _seal_byte,
    "seal token deleted": _delete_token,
    "a record added": _extra_record,
    "records file deleted": _remove_records_file,
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_tampering_with_any_part_fails(disclosing: Disclosing, tmp_path: Path,
                                       mutation: str) -> None:
    original = disclosing.disclose("tamper-base", "--url", f"{disclosing.site}/")
    package = tmp_path / "package"
    shutil.copytree(original, package)
    code, report = audit(package, disclosing.pub, disclosing.tsa_root, tmp_path)
    assert code == 0, [f for f in report["findings"] if f["status"] == "fail"]
    place = MUTATIONS[mutation](package)
    code, report = audit(package, disclosing.pub, disclosing.tsa_root, tmp_path)
    assert code == 3, (mutation, report["findings"])
    failed = subjects(report, "fail")
    assert any(place in s or s in place for s in failed), (place, failed)


def _swap_log_lines(package: Path) -> None:
    """Move the last log line (and its proof) first: a key-trusted line placed before an
    entry it would sign is the attack; trust must follow sequence numbers, not the file."""
    lines = (package / "log-entries.jsonl").read_bytes().split(b"\n")[:-1]
    doc = json.loads((package / "disclosure.json").read_text())
    assert len(lines) == len(doc["entries"]) >= 2
    (package / "log-entries.jsonl").write_bytes(b"\n".join([lines[-1], *lines[:-1]]) + b"\n")
    doc["entries"] = [doc["entries"][-1], *doc["entries"][:-1]]
    (package / "disclosure.json").write_text(json.dumps(doc))


def _repeat_log_line(package: Path) -> None:
    lines = (package / "log-entries.jsonl").read_bytes().split(b"\n")[:-1]
    doc = json.loads((package / "disclosure.json").read_text())
    (package / "log-entries.jsonl").write_bytes(b"\n".join([*lines, lines[-1]]) + b"\n")
    doc["entries"].append(doc["entries"][-1])
    (package / "disclosure.json").write_text(json.dumps(doc))


def _duplicate_record_index(package: Path) -> None:
    doc = json.loads((package / "disclosure.json").read_text())
    withheld = next(r for r in doc["records"] if not r.get("included"))
    withheld["index"] = next(r for r in doc["records"] if r is not withheld)["index"]
    (package / "disclosure.json").write_text(json.dumps(doc))


def _edit_field(field: str, value: Callable[[Any], Any]) -> Callable[[Path], None]:
    def edit(package: Path) -> None:
        doc = json.loads((package / "disclosure.json").read_text())
        doc[field] = value(doc[field])
        (package / "disclosure.json").write_text(json.dumps(doc))
    return edit


def _shared_offset(package: Path) -> None:
    """Two included records point at one record of records.warc.gz."""
    doc = json.loads((package / "disclosure.json").read_text())
    shown = [r for r in doc["records"] if r.get("included")]
    assert len(shown) >= 2
    shown[1]["packageOffset"] = shown[0]["packageOffset"]
    (package / "disclosure.json").write_text(json.dumps(doc))


UNSIGNED = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
MANIFEST_EDITS: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "log lines reordered": (_swap_log_lines, "log.order", "log-entries.jsonl"),
    "a log line repeated": (_repeat_log_line, "log.order", "log-entries.jsonl entry"),
    "a record index listed twice": (_duplicate_record_index, "disclosure.records",
                                    "disclosure.json"),
    "two records at one package offset": (_shared_offset, "disclosure.records",
                                          "disclosure.json"),
    "captureId of another capture": (_edit_field("captureId", lambda _: UNSIGNED),
                                     "seal.binding", "disclosure.json"),
    "caseId of another case": (_edit_field("caseId", lambda _: UNSIGNED), "disclosure.caseId",
                               "disclosure.json"),
    "treeSize other than the checkpoint's": (_edit_field("treeSize", lambda n: n + 1),
                                             "disclosure.treeSize", "disclosure.json"),
}


@pytest.mark.parametrize("edit", sorted(MANIFEST_EDITS))
def test_unsigned_manifest_fields_and_line_order_are_judged(disclosing: Disclosing,
                                                            tmp_path: Path, edit: str) -> None:
    change, check, place = MANIFEST_EDITS[edit]
    package = tmp_path / "package"
    shutil.copytree(disclosing.disclose("tamper-base", "--url", f"{disclosing.site}/"), package)
    change(package)
    code, report = audit(package, disclosing.pub, disclosing.tsa_root, tmp_path)
    assert code == 3, (edit, report["findings"])
    where = {f["subject"] for f in report["findings"]
             if f["status"] == "fail" and f["check"] == check}
    assert any(s.startswith(place) for s in where), (check, place, fails_of(report))


def fails_of(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f["check"], f["subject"]) for f in report["findings"] if f["status"] == "fail"]


# -- history: the package against what the auditor saw of the case -------------------------


def _add_key(disclosing: Disclosing, case: Path, name: str) -> None:
    pub = case.parent / f"{name}.pub"
    pub.write_bytes(SigningKey.generate(name).public.pem())
    proc = run_prov("keys", "add", str(pub), "--case", str(case), env=disclosing.env)
    assert proc.returncode == 0, proc.stderr


def _audit_with(package: Path, disclosing: Disclosing, home: Path,
                *args: str) -> tuple[int, dict[str, Any]]:
    env = {**prov_env(home), "PROV_HOME": str(home)}
    proc = run_prov("verify", str(package), "--json", "--trust", str(disclosing.pub),
                    "--tsa-root", str(disclosing.tsa_root), *args, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _history(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f["status"], f["check"], f["subject"]) for f in report["findings"]
            if f["check"].startswith("history.")]


def _size(case: Path) -> int:
    return (case / "custody" / "log.jsonl").read_bytes().count(b"\n")


def test_a_package_older_than_the_case_seen_passes_and_says_how_much(
    disclosing: Disclosing, tmp_path: Path
) -> None:
    package = disclosing.disclose("history", "--url", f"{disclosing.site}/")
    case = tmp_path / "case"
    shutil.copytree(disclosing.case, case)
    _add_key(disclosing, case, "later")  # the case grows after the disclosure was made
    home = tmp_path / "auditor"
    code, report = _audit_with(case, disclosing, home)
    assert code == 0, fails_of(report)
    manifest = json.loads((package / "disclosure.json").read_text())
    newer = _size(case) - manifest["treeSize"]
    assert newer >= 1
    code, report = _audit_with(package, disclosing, home)
    assert code == 0, fails_of(report)
    seen = home / "seen" / manifest["origin"] / f"{_size(case):020d}.checkpoint"
    assert _history(report)[0] == ("info", "history.older", str(seen))
    [older] = [f for f in report["findings"] if f["check"] == "history.older"]
    assert f"the log seen is {newer} entries newer than the package" in older["message"]


def test_a_package_inconsistent_with_a_held_checkpoint_is_a_fork(
    disclosing: Disclosing, tmp_path: Path
) -> None:
    """The operator rewrites the log's last entry and signs the same size again: the auditor
    who holds that checkpoint sees that the package's log is not the one it saw."""
    package = disclosing.disclose("history", "--url", f"{disclosing.site}/")
    size = json.loads((package / "disclosure.json").read_text())["treeSize"]
    case = tmp_path / "case"
    shutil.copytree(disclosing.case, case)
    log = case / "custody" / "log.jsonl"
    log.write_bytes(b"".join(line + b"\n" for line in log.read_bytes().split(b"\n")[:size - 1]))
    for later in (case / "custody" / "checkpoints" / f"{size:020d}"[:17]).glob(f"{size:020d}.*"):
        later.unlink()
    _add_key(disclosing, case, "instead")
    assert _size(case) == size
    held = tmp_path / "held.checkpoint"
    held.write_bytes(next((case / "custody" / "checkpoints").glob(f"*/{size:020d}.checkpoint"))
                     .read_bytes())
    code, report = _audit_with(package, disclosing, tmp_path / "auditor", "--since", str(held))
    assert code == 3
    assert ("fail", "history.fork", str(held)) in _history(report)
    assert fails_of(report) == [("history.fork", str(held))]


def test_anchors_planted_in_the_package_are_refused(disclosing: Disclosing, tmp_path: Path
                                                     ) -> None:
    """Whoever hands over the package can put a key and a root in it; naming either as an
    anchor is a usage error, and a root beside the tokens never makes them trusted."""
    package = tmp_path / "package"
    shutil.copytree(disclosing.disclose("planted", "--url", f"{disclosing.site}/"), package)
    shutil.copy(disclosing.pub, package / "founding.pub")
    shutil.copy(disclosing.tsa_root, package / "tsa-root.pem")
    env = prov_env(tmp_path / "auditor")
    for option, name in (("--trust", "founding.pub"), ("--tsa-root", "tsa-root.pem")):
        proc = run_prov("verify", str(package), option, str(package / name), env=env)
        assert proc.returncode == 2, proc.stderr
        assert "inside the target being verified" in proc.stderr
        assert "VERIFIED" not in proc.stdout
    proc = run_prov("verify", str(package), "--json", "--trust", str(disclosing.pub), env=env)
    report = json.loads(proc.stdout)
    stamps = {f["check"]: f["status"] for f in report["findings"]
              if f["check"].startswith("timestamp")}
    assert stamps.get("timestamp.root") == "warn" and "timestamp" not in stamps, stamps


def test_an_origin_that_climbs_out_of_seen_is_never_a_folder(disclosing: Disclosing,
                                                             tmp_path: Path) -> None:
    package = tmp_path / "package"
    shutil.copytree(disclosing.disclose("history", "--url", f"{disclosing.site}/"), package)
    note = (package / "checkpoint").read_bytes().split(b"\n")
    note[0] = b"prov-case/../../../escaped"
    (package / "checkpoint").write_bytes(b"\n".join(note))
    home = tmp_path / "auditor"
    code, report = _audit_with(package, disclosing, home)
    assert code == 3
    assert ("warn", "history.seen", str(home / "seen")) in _history(report)
    assert not (tmp_path / "escaped").exists() and not (home / "escaped").exists()


def test_a_chain_no_token_of_the_package_carries_is_a_warning(disclosing: Disclosing,
                                                              tmp_path: Path) -> None:
    """A package's certs/ is judged as a case's (``certs.unused``): it holds the chains its
    seal tokens carry, and a well-formed chain planted under its own sha256 is reported."""
    package = disclosing.disclose("chains")
    code, report = audit(package, disclosing.pub, disclosing.tsa_root, tmp_path)
    assert code == 0, [f for f in report["findings"] if f["status"] == "fail"]
    assert "certs.unused" not in checks(report, "warn")
    held = {p.name for p in (package / "certs").iterdir()}
    assert held and held <= {p.name for p in (disclosing.case / "certs").iterdir()}
    copy = tmp_path / "package"
    shutil.copytree(package, copy)
    pem = disclosing.tsa_root.read_bytes()
    planted = copy / "certs" / f"{hashlib.sha256(pem).hexdigest()}.pem"
    planted.write_bytes(pem)
    code, report = audit(copy, disclosing.pub, disclosing.tsa_root, tmp_path / "again")
    assert code == 0, [f for f in report["findings"] if f["status"] == "fail"]
    [unused] = [f for f in report["findings"] if f["check"] == "certs.unused"]
    assert (unused["status"], unused["subject"]) == ("warn", f"certs/{planted.name}")
    proc = run_prov("verify", str(copy), "--strict", "--trust", str(disclosing.pub),
                    "--tsa-root", str(disclosing.tsa_root), env=prov_env(tmp_path / "strict"))
    assert proc.returncode == 3, proc.stdout


def test_millions_of_short_log_lines_cost_no_memory(disclosing: Disclosing,
                                                    tmp_path: Path) -> None:
    """15 MiB of ``xy`` lines in log-entries.jsonl were split into a list of 5 million
    objects (370 MB resident) before their number was compared with the proofs'. They are
    counted first, then taken one at a time."""
    copy = tmp_path / "package"
    shutil.copytree(disclosing.disclose("lines"), copy)
    (copy / "log-entries.jsonl").write_bytes(b"xy\n" * (5 << 20))
    proc, peak = run_measured("verify", str(copy), "--json", "--trust", str(disclosing.pub),
                              "--tsa-root", str(disclosing.tsa_root),
                              env=prov_env(tmp_path / "auditor"))
    assert proc.returncode == 3, proc.stderr
    report = json.loads(proc.stdout)
    [entries] = [f for f in report["findings"] if f["check"] == "disclosure.entries"]
    assert entries["status"] == "fail" and entries["found"] == str(5 << 20)
    assert peak < 200 << 20, f"{peak >> 20} MiB"
