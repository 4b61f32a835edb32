"""Verdicts an attacker without a trusted key cannot forge (issue 14; docs/SECURITY.md), through
the real `prov verify` and `prov log verify-proof`.

Each test is one finding of the attack review: a case or package founded by the attacker's
own key (F1), a proof in which nothing is signed (F3), a disclosure manifest that lies about
its records (F4), time-stamp tokens no signed statement binds (F8), a planted cosignature
(F9). Each asserts the exit code and the finding's name and place.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import rfc8785
import test_tamper
from test_tamper import SealedCase, checked, fails, run_prov
from tsa import LocalTSA

from provenance.cli.demo import serve_site
from provenance.custody import merkle

sealed = test_tamper.sealed
copy = test_tamper.copy
auditor_home = test_tamper.auditor_home


def report_of(home: Path, target: Path, *args: str | Path) -> tuple[int, dict[str, Any]]:
    """`prov verify --json`: exit 0 or 3, a report, no traceback."""
    result = run_prov(home, "verify", target, "--json", "--no-remember", *args)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, 3), (result.returncode, result.stderr)
    doc: dict[str, Any] = json.loads(result.stdout)
    return result.returncode, doc


def found(report: dict[str, Any], check: str, status: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["check"] == check and f["status"] == status]


def capture_id(sealed: SealedCase, index: int = 0) -> str:
    return sealed.captures[index].rsplit("/", 1)[-1]


# -- F1: a case or package founded by a key no anchor names ------------------------------------


@dataclass(frozen=True)
class Forged:
    """A case the attacker founded and signed with their own key, and its packages."""

    case: Path
    key_id: str
    wacz: Path
    bag: Path
    disclosure: Path


@pytest.fixture(scope="module")
def forged(tmp_path_factory: pytest.TempPathFactory) -> Forged:
    base = tmp_path_factory.mktemp("forged")
    evil, case = base / "evil-home", base / "case"
    key_id = checked(run_prov(evil, "keys", "generate")).stdout.strip()
    checked(run_prov(evil, "init", case, "--title", "forged"))
    with serve_site() as site:
        checked(run_prov(evil, "snapshot", "--case", case, f"{site}/"))
    [listed] = json.loads(checked(run_prov(evil, "captures", "list", "--json", "--case",
                                           case)).stdout)
    capture = str(listed["captureDir"]).rsplit("/", 1)[-1]
    out = base / "packages"
    checked(run_prov(evil, "disclose", "--case", case, "--capture", capture, "-o",
                     out / "disclosure"))
    checked(run_prov(evil, "export", "wacz", "--case", case, "-o", out / "forged.wacz"))
    checked(run_prov(evil, "export", "bag", "--case", case, "-o", out / "bag"))
    shutil.rmtree(evil)  # only the artefacts remain, as an auditor receives them
    return Forged(case, key_id, out / "forged.wacz", out / "bag", out / "disclosure")


def trusting_home(tmp_path: Path, sealed: SealedCase) -> Path:
    """An auditor who ran `prov keys trust` on the operator's key: $PROV_HOME/trusted."""
    home = tmp_path / "auditor-trusting"
    checked(run_prov(home, "keys", "trust", sealed.public))
    return home


KINDS = ["case", "wacz", "bag", "disclosure"]


@pytest.mark.parametrize("anchor", ["trusted-dir", "--trust", "--trust-id"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_target_founded_by_a_key_no_anchor_names_fails(
    forged: Forged, sealed: SealedCase, auditor_home: Path, tmp_path: Path, kind: str,
    anchor: str
) -> None:
    """F1: before, an auditor whose anchor came from $PROV_HOME/trusted got VERIFIED, exit 0,
    with only a warning that trust was "anchored only in the case itself"."""
    target = forged.case if kind == "case" else getattr(forged, kind)
    home, args = auditor_home, {"--trust": ["--trust", str(sealed.public)],
                                "--trust-id": ["--trust-id", sealed.key_id]}.get(anchor, [])
    if anchor == "trusted-dir":
        home = trusting_home(tmp_path, sealed)
    code, report = report_of(home, target, *args)
    assert code == 3 and report["kind"] == kind, report
    [finding] = found(report, "trust.anchor", "fail")
    assert finding["found"] == forged.key_id and finding["expected"] == sealed.key_id
    assert "none of your trust anchors" in finding["message"]
    code, report = report_of(home, target, *args, "--strict")
    assert code == 3


@pytest.mark.parametrize("kind", KINDS)
def test_a_target_with_no_anchor_at_all_fails_unless_allowed(
    forged: Forged, auditor_home: Path, kind: str
) -> None:
    """No anchor at all: nothing outside the target vouches for it, so it is not VERIFIED;
    --allow-unanchored makes that a warning (and the verdict says UNANCHORED)."""
    target = forged.case if kind == "case" else getattr(forged, kind)
    code, report = report_of(auditor_home, target)
    assert code == 3
    [finding] = found(report, "trust.anchor", "fail")
    assert finding["message"].startswith("no trust anchor") and finding["found"] == forged.key_id
    code, report = report_of(auditor_home, target, "--allow-unanchored")
    assert code == 0, fails(report)
    [finding] = found(report, "trust.anchor", "warn")
    assert "anchored only in the" in finding["message"]
    result = run_prov(auditor_home, "verify", target, "--no-remember", "--allow-unanchored")
    assert result.returncode == 0
    assert result.stdout.splitlines()[-1].startswith("VERIFIED, UNANCHORED: ")
    code, report = report_of(auditor_home, target, "--allow-unanchored", "--strict")
    assert code == 3


def test_the_operators_own_case_still_verifies_with_the_trusted_dir(
    sealed: SealedCase, copy: Path, tmp_path: Path
) -> None:
    code, report = report_of(trusting_home(tmp_path, sealed), copy)
    assert code == 0, fails(report)
    assert found(report, "trust.anchor", "pass")


# -- F3: a proof with nothing signed -----------------------------------------------------------


def nothing_signed_proof(sealed: SealedCase, case: Path, out: Path) -> Path:
    """The review's forged proof: an unsigned 'entry' under a checkpoint whose note no longer
    matches its signature, and no trust lines."""
    proof = out / "proof.json"
    checked(run_prov(sealed.home, "log", "prove", "--entry", "2", "-o", proof, "--case", case))
    doc = json.loads(proof.read_text())
    entry = b'{"payload":"forged: captured http://example.org/","signatures":[]}'
    leaves = [merkle.leaf_hash(b"x"), merkle.leaf_hash(entry)]
    lines = doc["checkpoint"].split("\n")
    lines[1], lines[2] = "2", base64.b64encode(merkle.root_of(leaves)).decode()
    doc.update(index=1, treeSize=2, entry=base64.b64encode(entry).decode(), trust=[],
               inclusion=[h.hex() for h in merkle.inclusion_proof(1, leaves)],
               checkpoint="\n".join(lines))
    forged = out / "forged-proof.json"
    forged.write_text(json.dumps(doc))
    return forged


def test_a_proof_with_nothing_signed_fails(
    sealed: SealedCase, copy: Path, auditor_home: Path, tmp_path: Path
) -> None:
    """F3: before, VERIFIED (two warnings) and "entry 1 is in the log of size 2", exit 0."""
    proof = nothing_signed_proof(sealed, copy, tmp_path)
    for allow in ((), ("--allow-unanchored",)):
        code, report = report_of(auditor_home, proof, *allow)
        assert code == 3 and report["kind"] == "proof"
        [finding] = report["findings"]
        assert (finding["check"], finding["status"]) == ("trust.anchor", "fail")
        assert "nothing in it could be checked" in finding["message"]
        result = run_prov(auditor_home, "log", "verify-proof", proof, *allow)
        assert result.returncode == 3, result.stderr
        assert result.stdout == "" and "nothing in it could be checked" in result.stderr
    # with the operator's key, the unsigned entry itself is refused
    code, report = report_of(auditor_home, proof, "--trust", sealed.public)
    assert code == 3 and report["findings"][0]["check"] == "proof"
    result = run_prov(auditor_home, "log", "verify-proof", proof, "--trust", sealed.public)
    assert result.returncode == 3 and "is in the log" not in result.stdout


def test_an_honest_proof_verifies_with_the_trusted_dir(
    sealed: SealedCase, copy: Path, tmp_path: Path
) -> None:
    proof = tmp_path / "proof.json"
    checked(run_prov(sealed.home, "log", "prove", "--entry", "2", "-o", proof, "--case", copy))
    home = trusting_home(tmp_path, sealed)
    result = run_prov(home, "log", "verify-proof", proof)
    assert result.returncode == 0, result.stderr
    assert "entry 2 is in the log" in result.stdout
    code, report = report_of(home, proof)
    assert code == 0, report



# -- F9: a planted cosignature -----------------------------------------------------------------


def test_a_planted_cosignature_is_an_unchecked_claim(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    """F9: random bytes under any name showed as "INFO cosigned by Federal-Court-Registry" in
    a VERIFIED --strict report."""
    checkpoint = max(copy.glob("custody/checkpoints/*/*.checkpoint"))
    blob = os.urandom(4) + (1700000000).to_bytes(8, "big") + os.urandom(64)
    planted = checkpoint.with_name(checkpoint.name.replace(".checkpoint",
                                                           ".0123456789abcdef.cosignature"))
    planted.write_bytes(checkpoint.read_bytes() + (
        "\u2014 Federal-Court-Registry " + base64.b64encode(blob).decode() + "\n").encode())
    rel = planted.relative_to(copy).as_posix()
    code, report = report_of(auditor_home, copy, "--trust", sealed.public)
    assert code == 0, fails(report)
    [claim] = found(report, "cosignature", "warn")
    assert claim["subject"] == rel
    assert claim["message"].startswith("claims a cosignature by 'Federal-Court-Registry'")
    assert "NOT checked" in claim["message"]
    assert not any("cosigned by" in f["message"] for f in report["findings"])
    code, report = report_of(auditor_home, copy, "--trust", sealed.public, "--strict")
    assert code == 3 and found(report, "cosignature", "warn")
    result = run_prov(auditor_home, "verify", copy, "--trust", sealed.public, "--no-remember")
    assert "WARN  cosignature" in result.stdout and "INFO  cosignature" not in result.stdout


# -- F8: time-stamp tokens no signed statement binds -------------------------------------------


@dataclass(frozen=True)
class Stamped:
    """A case stamped by a local TSA, and a disclosure package and a bag of it."""

    home: Path
    public: Path
    root_pem: Path
    disclosure: Path
    bag: Path


@pytest.fixture(scope="module")
def stamped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stamped]:
    base = tmp_path_factory.mktemp("stamped")
    home, case = base / "home", base / "case"
    with LocalTSA() as tsa, serve_site() as site:
        tsa_args = ("--tsa", tsa.url)
        checked(run_prov(home, "keys", "generate"))
        checked(run_prov(home, "init", case, "--title", "stamped"))
        checked(run_prov(home, "snapshot", "--case", case, f"{site}/", *tsa_args))
        [listed] = json.loads(checked(run_prov(home, "captures", "list", "--json", "--case",
                                               case)).stdout)
        capture = str(listed["captureDir"]).rsplit("/", 1)[-1]
        checked(run_prov(home, "disclose", "--case", case, "--capture", capture, "-o",
                         base / "disclosure", *tsa_args))
        checked(run_prov(home, "export", "bag", "--case", case, "-o", base / "bag", *tsa_args))
        root_pem = base / "tsa-root.pem"
        root_pem.write_bytes(tsa.root_pem)
        public = base / "founding.pub"
        public.write_bytes((home / "keys" / "default.pub").read_bytes())
        yield Stamped(home, public, root_pem, base / "disclosure", base / "bag")


def planted_copy(package: Path, pattern: str, tmp_path: Path) -> tuple[Path, str]:
    """A copy of ``package`` with a genuine token copied under another TSA id."""
    target = tmp_path / package.name
    shutil.copytree(package, target)
    [token] = sorted(target.glob(pattern))
    planted = token.with_name(token.name.split(".")[0] + ".0000000000000000.tsr")
    shutil.copy(token, planted)
    return target, planted.name


@pytest.mark.parametrize("kind", ["disclosure", "bag"])
def test_a_token_no_signed_statement_binds_fails(
    stamped: Stamped, auditor_home: Path, tmp_path: Path, kind: str
) -> None:
    """F8: a genuine token copied under another TSA id passed --strict, and in a bag counted
    as one more "timestamp" pass."""
    package = getattr(stamped, kind)
    anchors = ("--trust", stamped.public, "--tsa-root", stamped.root_pem)
    code, report = report_of(auditor_home, package, *anchors)
    assert code == 0, fails(report)
    passes = len(found(report, "timestamp", "pass"))
    pattern = "seal.*.tsr" if kind == "disclosure" else "tagmanifest.*.tsr"
    target, name = planted_copy(package, pattern, tmp_path)
    code, report = report_of(auditor_home, target, *anchors)
    assert code == 3
    [finding] = found(report, "timestamp.unlogged", "fail")
    assert finding["subject"] == name
    assert len(found(report, "timestamp", "pass")) == passes  # never counted as a pass
    if kind == "disclosure":
        (target / "seal.1111111111111111.tsr").write_bytes(b"junk\n")
        code, report = report_of(auditor_home, target, *anchors)
        assert {f["subject"] for f in found(report, "timestamp.unlogged", "fail")} == {
            name, "seal.1111111111111111.tsr"}


# -- F4: a disclosure manifest that lies about its records -------------------------------------


def _edit_manifest(package: Path, edit: Callable[[list[dict[str, Any]]], None]) -> None:
    path = package / "disclosure.json"
    doc = json.loads(path.read_bytes())
    edit(doc["records"])
    path.write_bytes(rfc8785.dumps(doc))


def _withheld(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return next(r for r in rows if not r["included"])


def _shown(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return next(r for r in rows if r["included"] and r["type"] == "metadata")


RECORD_LIES: dict[str, Callable[[list[dict[str, Any]]], None]] = {
    "withheld claims a response": lambda rows: _withheld(rows).update(
        type="response", uri="http://127.0.0.1/admitted-fraud.html",
        recordId="<urn:uuid:00000000-0000-0000-0000-000000000000>"),
    "withheld claims an offset": lambda rows: _withheld(rows).update(offset=99999),
    "withheld in another file": lambda rows: _withheld(rows).update(file="data-00009.warc.gz"),
    "shown uri": lambda rows: _shown(rows).update(uri="http://127.0.0.1/something-else.html"),
    "shown type": lambda rows: _shown(rows).update(type="resource"),
    "shown record id": lambda rows: _shown(rows).update(
        recordId="<urn:uuid:00000000-0000-0000-0000-000000000000>"),
    "shown file": lambda rows: _shown(rows).update(file="data-00001.warc.gz"),
}


@pytest.mark.parametrize("lie", sorted(RECORD_LIES))
def test_a_disclosure_record_row_that_lies_fails(
    sealed: SealedCase, copy: Path, auditor_home: Path, tmp_path: Path, lie: str
) -> None:
    """F4: the rows' uri, type, recordId, file and offset were never checked: the package
    could say what was withheld and what was shown, VERIFIED --strict."""
    package = tmp_path / "disclosure"
    checked(run_prov(sealed.home, "disclose", "--case", copy, "--capture",
                     capture_id(sealed), "-o", package))
    code, report = report_of(auditor_home, package, "--trust", sealed.public)
    assert code == 0, fails(report)
    assert not any("(" in f["subject"] for f in found(report, "disclosure.proof", "pass"))
    _edit_manifest(package, RECORD_LIES[lie])
    code, report = report_of(auditor_home, package, "--trust", sealed.public)
    assert code == 3
    assert {f["check"] for f in fails(report)} == {"disclosure.records"}, fails(report)
