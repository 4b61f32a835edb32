"""Tamper tests: every way of altering a sealed case is caught by ``prov verify`` (exit 3),
and the report names the altered place.

One case is built once per session with the real CLI (a key, ``prov init``, two snapshots of
the demo site served on 127.0.0.1) and copied for each test. Verification runs as an auditor
would: a fresh, empty ``$PROV_HOME`` and the founding public key passed with ``--trust``.
"""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from helpers import checked, verify_at
from helpers import run_prov_at as run_prov

from archive.warc.reader import WarcReader
from provenance import api
from provenance.base import ids, timefmt
from provenance.cli.demo import serve_site, tamper_one_byte
from provenance.custody.log import checkpoint_rel
from provenance.signing.dsse import parse_envelope, sign_envelope
from provenance.signing.keys import SigningKey

REPORT_KEYS = {"schema", "target", "kind", "kindReason", "strict", "mode", "notChecked",
               "result", "exitCode", "counts", "findings", "omitted"}
FINDING_KEYS = {"status", "check", "subject", "message", "expected", "found"}
SEAL = "seal.dsse.json"
LOG = "custody/log.jsonl"


@dataclass(frozen=True)
class SealedCase:
    root: Path
    home: Path
    public: Path  # the founding key's public half, as an auditor would receive it
    key_id: str
    captures: tuple[str, ...]  # capture folders relative to the case, oldest first


@pytest.fixture(scope="session")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> SealedCase:
    base = tmp_path_factory.mktemp("sealed")
    home, root = base / "home", base / "case"
    key_id = checked(run_prov(home, "keys", "generate")).stdout.strip()
    checked(run_prov(home, "init", root, "--title", "tamper tests"))
    with serve_site() as site:
        checked(
            run_prov(
                home,
                "snapshot",
                "--case",
                root,
                f"{site}/",
                f"{site}/article.html",
                f"{site}/old-article",
                f"{site}/images/logo.png",
            )
        )
        checked(
            run_prov(
                home,
                "snapshot",
                "--case",
                root,
                f"{site}/style.css",
                f"{site}/images/ballot-box.png",
            )
        )
    listed = json.loads(
        checked(run_prov(home, "captures", "list", "--json", "--case", root)).stdout
    )
    public = base / "founding.pub"
    public.write_bytes((home / "keys" / "default.pub").read_bytes())
    captures = tuple(sorted(row["captureDir"] for row in listed))
    assert len(captures) == 2
    return SealedCase(root, home, public, key_id, captures)


@pytest.fixture
def copy(sealed: SealedCase, tmp_path: Path) -> Path:
    target = tmp_path / "case"
    shutil.copytree(sealed.root, target, symlinks=True)
    return target


@pytest.fixture
def auditor_home(tmp_path: Path) -> Path:
    """An empty $PROV_HOME: this verifier trusts nothing it was not told on the command line."""
    home = tmp_path / "auditor-home"
    home.mkdir()
    return home


def verify_json(home: Path, target: Path, *args: str | Path) -> tuple[int, dict[str, Any]]:
    code, report = verify_at(home, target, *args)
    check_report_shape(report, code)
    return code, report


def check_report_shape(report: dict[str, Any], exit_code: int) -> None:
    assert set(report) == REPORT_KEYS
    assert report["schema"] == "prov/verify-report/v1"
    assert report["kind"] == "case"
    assert report["exitCode"] == exit_code
    assert report["result"] == ("pass" if exit_code == 0 else "fail")
    for finding in report["findings"]:
        assert {"status", "check", "subject", "message"} <= set(finding) <= FINDING_KEYS
        assert finding["status"] in ("pass", "fail", "warn", "info", "skip")
    for status, count in report["counts"].items():
        assert count == sum(1 for f in report["findings"] if f["status"] == status) + sum(
            o["count"] for o in report["omitted"] if o["status"] == status)


def fails(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["status"] == "fail"]


def names(subject: str, place: str) -> bool:
    """Whether a finding's subject is ``place`` or a more precise spot inside it."""
    return subject == place or subject.startswith(place + " ")


# -- helpers an attacker would use -----------------------------------------------------------


def members(path: Path) -> list[bytes]:
    """The gzip members of a WARC file, one per record, as raw bytes."""
    data = path.read_bytes()
    with open(path, "rb") as fh:
        offsets = [head.offset for head in WarcReader(fh)]
    return [data[a:b] for a, b in itertools.pairwise([*offsets, len(data)])]


def gzip_member(record: bytes) -> bytes:
    return gzip.compress(record, compresslevel=6, mtime=0)


def envelope_doc(data: bytes) -> dict[str, Any]:
    doc = json.loads(data)
    assert set(doc) == {"payload", "payloadType", "signatures"}
    return doc


def with_payload(data: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """The envelope with its payload edited and its (now stale) signature kept."""
    doc = envelope_doc(data)
    payload = json.loads(base64.b64decode(doc["payload"]))
    edit(payload)
    doc["payload"] = base64.b64encode(rfc8785.dumps(payload)).decode()
    return bytes(rfc8785.dumps(doc))


def resigned(
    data: bytes, key: SigningKey, edit: Callable[[dict[str, Any]], None] | None = None
) -> bytes:
    """A valid DSSE envelope over the (optionally edited) payload, signed by ``key``."""
    envelope = parse_envelope(data, what="test")
    payload = envelope.payload
    if edit is not None:
        doc = json.loads(payload)
        edit(doc)
        payload = bytes(rfc8785.dumps(doc))
    return sign_envelope(envelope.payload_type, payload, key)


def log_lines(case: Path) -> list[bytes]:
    data = (case / LOG).read_bytes()
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")


def write_log(case: Path, lines: list[bytes]) -> None:
    (case / LOG).write_bytes(b"".join(line + b"\n" for line in lines))


def warc_of(sealed: SealedCase, index: int = 0) -> str:
    return f"{sealed.captures[index]}/data-00000.warc.gz"


def seal_of(sealed: SealedCase, index: int) -> str:
    return f"{sealed.captures[index]}/{SEAL}"


# -- the mutations: each alters a copy and returns the place a failure must name --------------


def flip_payload_byte(case: Path, sealed: SealedCase) -> str:
    where, offset = tamper_one_byte(case, b"election")
    return f"{where} @{offset}"


def flip_raw_gzip_byte(case: Path, sealed: SealedCase) -> str:
    rel = warc_of(sealed)
    data = bytearray((case / rel).read_bytes())
    data[len(data) // 2] ^= 0x01
    (case / rel).write_bytes(bytes(data))
    return rel


def drop_record(case: Path, sealed: SealedCase) -> str:
    rel = warc_of(sealed)
    parts = members(case / rel)
    assert len(parts) > 3
    del parts[2]
    (case / rel).write_bytes(b"".join(parts))
    return rel


def duplicate_record(case: Path, sealed: SealedCase) -> str:
    rel = warc_of(sealed)
    parts = members(case / rel)
    parts.insert(3, parts[2])
    (case / rel).write_bytes(b"".join(parts))
    return rel


def edit_record_header(case: Path, sealed: SealedCase) -> str:
    """A header the digests do not cover (the target URI), re-gzipped so the file stays valid:
    only the records root and the file digest can tell."""
    rel = warc_of(sealed)
    parts = members(case / rel)
    for number, member in enumerate(parts):
        record = gzip.decompress(member)
        if b"WARC-Type: response" in record and b"WARC-Target-URI: http://" in record:
            record = record.replace(b"WARC-Target-URI: http://", b"WARC-Target-URI: https://", 1)
            parts[number] = gzip_member(record)
            break
    else:
        raise AssertionError("no response record")
    (case / rel).write_bytes(b"".join(parts))
    return rel


def truncate_warc(case: Path, sealed: SealedCase) -> str:
    rel = warc_of(sealed)
    path = case / rel
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)
    return rel


def edit_seal(case: Path, sealed: SealedCase) -> str:
    rel = seal_of(sealed, 0)

    def edit(statement: dict[str, Any]) -> None:
        statement["predicate"]["endedAt"] = "2001-01-01T00:00:00.000000Z"

    (case / rel).write_bytes(with_payload((case / rel).read_bytes(), edit))
    return rel


def resign_seal_untrusted(case: Path, sealed: SealedCase) -> str:
    rel = seal_of(sealed, 0)
    attacker = SigningKey.generate("attacker")

    def edit(statement: dict[str, Any]) -> None:
        statement["predicate"]["operator"] = attacker.key_id

    (case / rel).write_bytes(resigned((case / rel).read_bytes(), attacker, edit))
    return rel


def swap_seals(case: Path, sealed: SealedCase) -> str:
    first, second = case / seal_of(sealed, 0), case / seal_of(sealed, 1)
    a, b = first.read_bytes(), second.read_bytes()
    first.write_bytes(b)
    second.write_bytes(a)
    return seal_of(sealed, 0)


def reseal_with_planted_key(case: Path, sealed: SealedCase) -> str:
    """The attacker plants its key in the case's key cache and re-seals an altered capture."""
    attacker = SigningKey.generate("attacker")
    (case / "keys" / f"{attacker.key_id.split(':', 1)[1]}.pub").write_bytes(attacker.public.pem())
    rel = seal_of(sealed, 1)

    def edit(statement: dict[str, Any]) -> None:
        statement["predicate"]["operator"] = attacker.key_id
        statement["predicate"]["note"] = "nothing to see here"

    (case / rel).write_bytes(resigned((case / rel).read_bytes(), attacker, edit))
    return rel


def edit_log_entry(case: Path, sealed: SealedCase) -> str:
    lines = log_lines(case)

    def edit(entry: dict[str, Any]) -> None:
        entry["details"]["urls"] = 1

    lines[1] = with_payload(lines[1], edit)
    write_log(case, lines)
    return f"{LOG} entry 1"


def remove_log_entry(case: Path, sealed: SealedCase) -> str:
    lines = log_lines(case)
    del lines[1]
    write_log(case, lines)
    return LOG


def remove_last_log_entry(case: Path, sealed: SealedCase) -> str:
    write_log(case, log_lines(case)[:-1])
    return LOG


def reorder_log_lines(case: Path, sealed: SealedCase) -> str:
    lines = log_lines(case)
    lines[1], lines[2] = lines[2], lines[1]
    write_log(case, lines)
    return f"{LOG} entry 1"


def duplicate_log_line(case: Path, sealed: SealedCase) -> str:
    lines = log_lines(case)
    write_log(case, [*lines, lines[-1]])
    return f"{LOG} entry {len(lines)}"


def edit_checkpoint(case: Path, sealed: SealedCase) -> str:
    rel = checkpoint_rel(2)
    origin, size, root, rest = (case / rel).read_bytes().split(b"\n", 3)
    flipped = (b"A" if root[:1] != b"A" else b"B") + root[1:]
    (case / rel).write_bytes(b"\n".join([origin, size, flipped, rest]))
    return rel


def delete_checkpoint(case: Path, sealed: SealedCase) -> str:
    rel = checkpoint_rel(1)
    (case / rel).unlink()
    return rel


def edit_case_file(case: Path, sealed: SealedCase) -> str:
    doc = json.loads((case / "case.json").read_bytes())
    doc["title"] = "a different case"
    (case / "case.json").write_bytes(rfc8785.dumps(doc))
    return "case.json"


def delete_capture(case: Path, sealed: SealedCase) -> str:
    shutil.rmtree(case / sealed.captures[0])
    return sealed.captures[0]


def symlink_warc(case: Path, sealed: SealedCase) -> str:
    rel = warc_of(sealed)
    outside = case.parent / "elsewhere.warc.gz"
    shutil.copyfile(case / rel, outside)
    (case / rel).unlink()
    (case / rel).symlink_to(outside)
    return rel


def add_file(case: Path, sealed: SealedCase) -> str:
    rel = f"{sealed.captures[1]}/notes.txt"
    (case / rel).write_text("added later\n")
    return rel


def add_warc(case: Path, sealed: SealedCase) -> str:
    rel = f"{sealed.captures[1]}/data-00001.warc.gz"
    shutil.copyfile(case / warc_of(sealed, 0), case / rel)
    return rel


def resign_whole_log(case: Path, sealed: SealedCase) -> str:
    """The attacker keeps the captures, founds a new case with its own key, re-seals every
    capture and logs them: internally consistent, wrong only against an outside anchor."""
    stolen = case.parent / "stolen-captures"
    shutil.move(case / "captures", stolen)
    shutil.rmtree(case)
    attacker = SigningKey.generate("attacker")
    forged = api.init_case(case, "tamper tests", attacker, timefmt.utc_now())
    shutil.rmtree(case / "captures")
    shutil.move(stolen, case / "captures")
    for seal in case.glob(f"captures/*/*/*/*/{SEAL}"):

        def edit(statement: dict[str, Any]) -> None:
            statement["predicate"]["operator"] = attacker.key_id
            statement["predicate"]["caseId"] = forged.info.id  # the seal names its case

        seal.write_bytes(resigned(seal.read_bytes(), attacker, edit))
    assert api.repair(forged, attacker, timefmt.utc_now)
    return LOG


def _copy_capture(case: Path, sealed: SealedCase) -> tuple[str, str]:
    source = sealed.captures[0]
    capture_id = ids.uuid7(timefmt.utc_now())
    target = f"{source.rsplit('/', 1)[0]}/{capture_id}"
    shutil.copytree(case / source, case / target)
    return capture_id, target


def replay_capture(case: Path, sealed: SealedCase) -> str:
    """A genuine capture, copied as is under a new id: its seal names the original folder."""
    _, target = _copy_capture(case, sealed)
    return target


def forge_capture(case: Path, sealed: SealedCase) -> str:
    """A new capture folder, consistently re-sealed by a key the case never trusted."""
    capture_id, target = _copy_capture(case, sealed)
    attacker = SigningKey.generate("attacker")

    def edit(statement: dict[str, Any]) -> None:
        statement["predicate"].update(
            captureId=capture_id, captureDir=target, operator=attacker.key_id
        )

    seal = case / target / SEAL
    seal.write_bytes(resigned(seal.read_bytes(), attacker, edit))
    return target


def stray_folder(case: Path, sealed: SealedCase) -> str:
    rel = f"{sealed.captures[0].rsplit('/', 1)[0]}/not-a-capture"
    (case / rel).mkdir()
    (case / rel / "data-00000.warc.gz").write_bytes(b"")
    return rel


def plant_seal_token(case: Path, sealed: SealedCase) -> str:
    rel = f"{sealed.captures[0]}/seal.0123456789abcdef.tsr"
    (case / rel).write_bytes(b"not a time-stamp token")
    return rel


MUTATIONS: dict[str, Callable[[Path, SealedCase], str]] = {
    "payload byte flipped (member re-gzipped)": flip_payload_byte,
    "raw byte flipped in the gzip file": flip_raw_gzip_byte,
    "record removed (gzip member dropped)": drop_record,
    "record duplicated": duplicate_record,
    "record header edited (member re-gzipped)": edit_record_header,
    "WARC truncated": truncate_warc,
    "seal payload edited": edit_seal,
    "seal re-signed by an untrusted key": resign_seal_untrusted,
    "seals swapped between captures": swap_seals,
    "attacker key planted in keys/ and capture re-sealed": reseal_with_planted_key,
    "log entry edited": edit_log_entry,
    "log entry removed": remove_log_entry,
    "last log entry removed": remove_last_log_entry,
    "log lines reordered": reorder_log_lines,
    "log line duplicated": duplicate_log_line,
    "checkpoint edited": edit_checkpoint,
    "checkpoint deleted": delete_checkpoint,
    "case.json edited": edit_case_file,
    "capture folder deleted": delete_capture,
    "WARC replaced by a symlink to a copy": symlink_warc,
    "file added in a capture folder": add_file,
    "WARC file added in a capture folder": add_warc,
    "whole log re-signed by an attacker": resign_whole_log,
    "genuine capture replayed under a new id": replay_capture,
    "capture forged and sealed by an untrusted key": forge_capture,
    "stray folder among the captures": stray_folder,
    "seal token planted in a capture folder": plant_seal_token,
}


KNOWN_GAPS: dict[str, pytest.MarkDecorator] = {}


@pytest.mark.parametrize(
    "mutation", [pytest.param(name, marks=KNOWN_GAPS.get(name, ()), id=name) for name in MUTATIONS]
)
def test_mutation_is_caught(
    mutation: str, sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    place = MUTATIONS[mutation](copy, sealed)
    code, report = verify_json(auditor_home, copy, "--trust", sealed.public)
    assert code == 3
    failed = fails(report)
    assert failed, report
    assert any(names(f["subject"], place) for f in failed), (
        f"no failure names {place!r}: " + json.dumps(failed, indent=1)
    )


@pytest.mark.parametrize("mutation", [pytest.param(name, id=name) for name in MUTATIONS])
def test_mutation_is_caught_by_fixity(
    mutation: str, sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    """`verify --fixity` inflates no record, yet never passes what the full verify fails: a
    record-level edit is the file's digest, named at the file (not at the record)."""
    place = MUTATIONS[mutation](copy, sealed)
    code, report = verify_at(auditor_home, copy, "--trust", sealed.public, "--fixity")
    assert (code, report["mode"]) == (3, "fixity")
    failed = fails(report)
    assert any(names(f["subject"], place) or names(place, f["subject"]) for f in failed), (
        f"no failure names {place!r}: " + json.dumps(failed, indent=1)
    )


def test_untouched_copy_verifies(sealed: SealedCase, copy: Path, auditor_home: Path) -> None:
    code, report = verify_json(auditor_home, copy, "--trust", sealed.public)
    assert code == 0
    assert report["counts"]["fail"] == 0
    # A first look cannot know whether the log was rolled back before it was handed over.
    assert [f["check"] for f in report["findings"] if f["status"] == "warn"] == [
        "history.unanchored"
    ]
    anchor = [f for f in report["findings"] if f["check"] == "trust.anchor"]
    assert [f["status"] for f in anchor] == ["pass"]
    seals = {
        f["subject"]
        for f in report["findings"]
        if f["check"] == "seal.signature" and f["status"] == "pass"
    }
    assert seals == {seal_of(sealed, 0), seal_of(sealed, 1)}

    code, report = verify_json(auditor_home, copy, "--trust", sealed.public, "--strict")
    assert code == 0, "the second look remembers the first: nothing left to warn about"
    assert report["counts"]["warn"] == 0
    assert any(
        f["check"] == "history.consistent" and f["status"] == "pass" for f in report["findings"]
    )


def test_trust_id_anchors_like_a_key_file(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    code, _ = verify_json(auditor_home, copy, "--trust-id", sealed.key_id)
    assert code == 0
    other = SigningKey.generate("someone-else").key_id
    code, report = verify_json(auditor_home, copy, "--trust-id", other)
    assert code == 3
    assert any(f["check"] == "trust.anchor" and f["found"] == sealed.key_id for f in fails(report))


def test_without_anchor_fails_unless_allowed_and_names_founding_key(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    code, report = verify_json(auditor_home, copy)
    assert code == 3
    assert [(f["check"], f["found"]) for f in fails(report)] == [("trust.anchor", sealed.key_id)]

    code, report = verify_json(auditor_home, copy, "--allow-unanchored")
    assert code == 0
    assert report["counts"]["fail"] == 0
    anchor = [f for f in report["findings"] if f["check"] == "trust.anchor"]
    assert len(anchor) == 1
    assert anchor[0]["status"] == "warn"
    assert sealed.key_id in anchor[0]["message"]

    code, report = verify_json(auditor_home, copy, "--allow-unanchored", "--strict")
    assert code == 3
    assert report["strict"] is True
    assert report["result"] == "fail"


def test_resigned_log_passes_only_when_allowed_unanchored(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    """Everything in a forged case checks out internally; only the anchor tells."""
    resign_whole_log(copy, sealed)
    code, report = verify_json(auditor_home, copy)
    assert code == 3
    assert [f["check"] for f in fails(report)] == ["trust.anchor"]
    code, report = verify_json(auditor_home, copy, "--allow-unanchored")
    assert code == 0
    assert report["counts"]["fail"] == 0
    anchor = [f for f in report["findings"] if f["check"] == "trust.anchor"]
    assert [f["status"] for f in anchor] == ["warn"]
    assert sealed.key_id not in anchor[0]["message"]

    code, report = verify_json(auditor_home, copy, "--trust", sealed.public)
    assert code == 3
    assert any(
        f["check"] == "trust.anchor" and f["subject"] == LOG and f["expected"] == sealed.key_id
        for f in fails(report)
    )


def test_verify_does_not_change_the_case(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    before = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    flip_payload_byte(copy, sealed)
    changed = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    verify_json(auditor_home, copy, "--trust", sealed.public)
    after = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    assert after == changed
    assert after != before


def roll_back(case: Path, sealed: SealedCase) -> None:
    """Undo the last snapshot without a trace inside the case: its entry, its checkpoint and
    its folder. Only a checkpoint remembered from before can show it."""
    lines = log_lines(case)
    write_log(case, lines[:-1])
    (case / checkpoint_rel(len(lines))).unlink()
    shutil.rmtree(case / sealed.captures[1])


def test_rollback_is_undetectable_on_a_first_look(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    roll_back(copy, sealed)
    code, report = verify_json(auditor_home, copy, "--trust", sealed.public)
    assert code == 0
    assert any(
        f["check"] == "history.unanchored" and f["status"] == "warn" for f in report["findings"]
    )
    fresh = auditor_home.parent / "another-auditor"
    fresh.mkdir()
    code, _ = verify_json(fresh, copy, "--trust", sealed.public, "--strict")
    assert code == 3


def test_rollback_fails_against_a_remembered_checkpoint(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    code, _ = verify_json(auditor_home, copy, "--trust", sealed.public)
    assert code == 0
    roll_back(copy, sealed)
    code, report = verify_json(auditor_home, copy, "--trust", sealed.public)
    assert code == 3
    assert any(f["check"] == "history.rollback" for f in fails(report)), fails(report)


def test_rollback_fails_against_since(
    sealed: SealedCase, copy: Path, auditor_home: Path, tmp_path: Path
) -> None:
    held = tmp_path / "held.checkpoint"
    held.write_text(checked(run_prov(auditor_home, "log", "checkpoint", "--case", copy)).stdout)
    roll_back(copy, sealed)
    code, report = verify_json(auditor_home, copy, "--trust", sealed.public, "--since", held)
    assert code == 3
    assert any(
        f["check"] == "history.rollback" and f["subject"] == str(held) for f in fails(report)
    ), fails(report)
