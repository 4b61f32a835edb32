"""Issue 3's custody commands as a user runs them (README, docs/AUDITING.md, docs/FORMATS.md):
`prov log checkpoint` and `verify --since`, `--print-checkpoint` and `--publish`, `prov log
show`, `prov log prove` / `verify-proof`, custodians (`prov custody transfer`, `accept`,
`dispose`, `report`), auditors' cosignatures (`verify --record`) and the auditor's memory
(`$PROV_HOME/seen`: `history.unanchored`, `history.rollback`, `history.fork`).

One case is built once per module with the real CLI: `prov init`, a snapshot of the demo site
on 127.0.0.1, the checkpoint an auditor keeps at that point (`held`, size 2), a second
snapshot and a `prov keys add` (size 4). Every test that changes a case works on a copy.
Auditors verify as in the docs: a fresh, empty $PROV_HOME and `--trust FOUNDING.pub`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from helpers import prov_env, run_measured, run_prov

from provenance.base import timefmt
from provenance.custody.case import Case
from provenance.custody.log import CustodyLog, NewEntry, checkpoint_rel
from provenance.signing.keys import PublicKey, SigningKey

LOG = "custody/log.jsonl"
DASH = "\u2014"


@dataclass(frozen=True)
class Custody:
    base: Path
    env: dict[str, str]  # the operator's PROV_HOME, holding key "default"
    case: Path
    founding: Path  # FOUNDING.pub, as an auditor receives it out of band
    founding_id: str
    origin: str
    held: Path  # `prov log checkpoint` kept after init and the first snapshot
    site: str


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def log_lines(case: Path) -> list[bytes]:
    data = (case / LOG).read_bytes()
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")


def mth(hashes: list[bytes]) -> bytes:
    """RFC 9162 2.1.1, as docs/AUDITING.md writes it: independent of provenance.custody.merkle."""
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(hashes[:k]) + mth(hashes[k:])).digest()


def log_root(lines: list[bytes]) -> bytes:
    return mth([hashlib.sha256(b"\x00" + line).digest() for line in lines])


def note_fields(note: bytes) -> tuple[str, int, bytes]:
    """(origin, size, root) of a signed checkpoint note."""
    origin, size, root = note.decode().split("\n")[:3]
    return origin, int(size), base64.b64decode(root)


def public_key_file(folder: Path, name: str) -> tuple[Path, str]:
    key = SigningKey.generate(name)
    path = folder / f"{name}.pub"
    path.write_bytes(key.public.pem())
    return path, key.key_id


def copy_case(custody: Custody, tmp_path: Path, name: str = "case") -> Path:
    target = tmp_path / name
    shutil.copytree(custody.case, target)
    return target


def latest_note(custody: Custody, case: Path) -> bytes:
    return ok(run_prov("log", "checkpoint", "--case", str(case), env=custody.env)).stdout.encode()


def audit(custody: Custody, case: Path, home: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """`prov verify --json --trust FOUNDING.pub` by the auditor whose PROV_HOME is `home`."""
    proc = run_prov("verify", str(case), "--json", "--trust", str(custody.founding), *args,
                    env=prov_env(home))
    assert "Traceback" not in proc.stderr, proc.stderr
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"verify printed no report: {proc.stderr}") from None
    assert report["exitCode"] == proc.returncode
    return proc.returncode, report


def found(report: dict[str, Any], check: str, status: str | None = None) -> list[dict[str, Any]]:
    return [f for f in report["findings"]
            if f["check"] == check and (status is None or f["status"] == status)]


def fails(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["status"] == "fail"]


def seen_folder(home: Path, origin: str) -> Path:
    return home / "prov-home" / "seen" / origin


@pytest.fixture(scope="module")
def custody(tmp_path_factory: pytest.TempPathFactory, site: str) -> Custody:
    base = tmp_path_factory.mktemp("custody")
    env = prov_env(base)
    case = base / "case"
    founding_id = ok(run_prov("keys", "generate", env=env)).stdout.strip()
    case_id = ok(run_prov("init", str(case), "--title", "custody", env=env)).stdout.strip()
    ok(run_prov("snapshot", "--case", str(case), "-q", f"{site}/", f"{site}/article.html",
                env=env))
    held = base / "seen.checkpoint"
    held.write_text(ok(run_prov("log", "checkpoint", "--case", str(case), env=env)).stdout)
    ok(run_prov("snapshot", "--case", str(case), "-q", f"{site}/images/logo.png", env=env))
    second, _ = public_key_file(base, "second")
    ok(run_prov("keys", "add", str(second), "--case", str(case), "--note", "second operator",
                env=env))
    founding = base / "FOUNDING.pub"
    shutil.copy(base / "prov-home" / "keys" / "default.pub", founding)
    made = Custody(base, env, case, founding, founding_id, f"prov-case/{case_id}", held, site)
    assert len(log_lines(case)) == 4
    assert note_fields(held.read_bytes())[1] == 2
    return made


@pytest.fixture(scope="module")
def other_checkpoint(custody: Custody) -> Path:
    """The latest checkpoint of another case (same operator, another origin)."""
    other = custody.base / "other-case"
    ok(run_prov("init", str(other), "--title", "another case", env=custody.env))
    path = custody.base / "other.checkpoint"
    path.write_bytes(latest_note(custody, other))
    return path


# -- prov log checkpoint, verify --since -----------------------------------------------------


def test_log_checkpoint_prints_the_latest_signed_checkpoint(custody: Custody) -> None:
    note = latest_note(custody, custody.case)
    lines = log_lines(custody.case)
    assert note == (custody.case / checkpoint_rel(len(lines))).read_bytes()
    assert note_fields(note) == (custody.origin, len(lines), log_root(lines))
    signature = note.split(b"\n\n")[1]
    assert signature.decode().startswith(f"{DASH} {custody.origin} ")
    assert note_fields(custody.held.read_bytes()) == (custody.origin, 2, log_root(lines[:2]))


def test_since_passes_and_still_passes_after_more_commands(
    custody: Custody, tmp_path: Path
) -> None:
    case = copy_case(custody, tmp_path)
    held = str(custody.held)
    code, report = audit(custody, case, tmp_path / "auditor", "--since", held)
    assert code == 0, fails(report)
    assert [f["subject"] for f in found(report, "history.consistent", "pass")] == [held]
    assert not found(report, "history.unanchored"), "--since anchors the history"

    ok(run_prov("snapshot", "--case", str(case), "-q", f"{custody.site}/", env=custody.env))
    ok(run_prov("custody", "dispose", "--case", str(case), "--as", "archived",
                env=custody.env))
    assert len(log_lines(case)) == 6
    code, report = audit(custody, case, tmp_path / "another-auditor", "--since", held)
    assert code == 0, fails(report)
    assert [f["subject"] for f in found(report, "history.consistent", "pass")] == [held]
    assert "size 2" in found(report, "history.consistent")[0]["message"]


def test_since_checkpoint_of_another_case_is_history_origin(
    custody: Custody, other_checkpoint: Path, tmp_path: Path
) -> None:
    code, report = audit(custody, custody.case, tmp_path / "auditor", "--no-remember",
                         "--since", str(other_checkpoint))
    assert code == 3
    [failure] = fails(report)
    assert failure["check"] == "history.origin"
    assert failure["subject"] == str(other_checkpoint)
    assert failure["expected"] == custody.origin
    assert failure["found"] == note_fields(other_checkpoint.read_bytes())[0] != custody.origin


# -- --print-checkpoint and --publish --------------------------------------------------------


CHANGES: dict[str, Callable[[Custody, Path], list[str]]] = {
    "snapshot": lambda c, folder: ["snapshot", "-q", f"{c.site}/article.html"],
    "keys add": lambda c, folder: ["keys", "add", str(public_key_file(folder, "k")[0])],
    "custody transfer": lambda c, folder: [
        "custody", "transfer", "--to", str(public_key_file(folder, "r")[0]), "--note", "court"],
    "custody dispose": lambda c, folder: ["custody", "dispose", "--as", "returned"],
}


@pytest.mark.parametrize("command", sorted(CHANGES))
def test_print_checkpoint_prints_the_new_checkpoint_in_one_line(
    custody: Custody, tmp_path: Path, command: str
) -> None:
    case = copy_case(custody, tmp_path)
    size_before = len(log_lines(case))
    proc = ok(run_prov(*CHANGES[command](custody, tmp_path), "--case", str(case),
                       "--print-checkpoint", env=custody.env))
    printed = [line for line in proc.stdout.splitlines() if line.startswith("prov-case/")]
    assert len(printed) == 1, proc.stdout
    assert proc.stdout.splitlines()[-1] == printed[0]
    origin, size, root = note_fields(latest_note(custody, case))
    assert size == len(log_lines(case)) == size_before + 1
    assert root == log_root(log_lines(case))
    assert printed[0] == f"{origin} {size} sha256:{root.hex()}"
    assert origin == custody.origin


@pytest.mark.parametrize("command", ["keys add", "custody transfer"])
def test_publish_pipes_the_new_signed_checkpoint_to_a_command(
    custody: Custody, tmp_path: Path, command: str
) -> None:
    case = copy_case(custody, tmp_path)
    published = tmp_path / "published.checkpoint"
    ok(run_prov(*CHANGES[command](custody, tmp_path), "--case", str(case),
                "--publish", f"cat > '{published}'", env=custody.env))
    note = latest_note(custody, case)
    assert published.read_bytes() == note
    assert note_fields(note)[1] == len(log_lines(case)) == 5


def test_a_failing_publish_command_exits_6_and_the_change_stays(
    custody: Custody, tmp_path: Path
) -> None:
    case = copy_case(custody, tmp_path)
    proc = run_prov(*CHANGES["keys add"](custody, tmp_path), "--case", str(case),
                    "--publish", "echo mailer down >&2; exit 9", env=custody.env)
    assert proc.returncode == 6, proc.stderr
    assert "--publish command exited 9: mailer down" in proc.stderr
    assert "prov log checkpoint" in proc.stderr  # the hint: publish it again by hand
    assert len(log_lines(case)) == 5
    assert note_fields(latest_note(custody, case))[1] == 5


# -- prov log show ---------------------------------------------------------------------------


def test_log_show_lists_the_entries_in_order(custody: Custody) -> None:
    lines = log_lines(custody.case)
    payloads = [json.loads(base64.b64decode(json.loads(line)["payload"])) for line in lines]
    actions = ["init", "capture", "capture", "key-trusted"]

    shown = json.loads(ok(run_prov("log", "show", "--json", "--case", str(custody.case),
                                   env=custody.env)).stdout)
    assert shown == payloads  # exactly the signed payloads, in log order
    assert [e["seq"] for e in shown] == list(range(len(lines)))
    assert [e["action"] for e in shown] == actions
    assert {e["actor"] for e in shown} == {custody.founding_id}
    assert shown[0]["details"]["origin"] == custody.origin
    assert shown[3]["details"]["note"] == "second operator"

    text = ok(run_prov("log", "show", "--case", str(custody.case), env=custody.env)).stdout
    rows = [row.split() for row in text.splitlines()]
    assert [(int(r[0]), r[1], r[2]) for r in rows] == [
        (e["seq"], e["time"], e["action"]) for e in shown]
    assert all(r[3].startswith(custody.founding_id[:24]) for r in rows)
    assert rows[1][-1] == shown[1]["subjects"][0]["path"]  # a capture names its seal


def test_log_show_streams_a_long_log_in_flat_memory(custody: Custody, tmp_path: Path) -> None:
    """The log's readers take one entry at a time (``log.iter_log_entries``): 150 MB of log
    (a capture entry repeated) is shown in bounded memory, where every entry used to be
    parsed into one list first. `--json` prints the same document element by element."""
    case = copy_case(custody, tmp_path)
    line = log_lines(case)[1] + b"\n"
    count = (150 << 20) // len(line)
    with open(case / LOG, "wb") as fh:
        for _ in range(count // 1000):
            fh.write(line * 1000)
    proc, peak = run_measured("log", "show", "--case", str(case), env=custody.env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == count // 1000 * 1000
    assert peak < 120 << 20, f"{peak >> 20} MiB"
    small = copy_case(custody, tmp_path, "small")
    (small / LOG).write_bytes(line * 3)
    shown = ok(run_prov("log", "show", "--json", "--case", str(small), env=custody.env)).stdout
    one = json.loads(base64.b64decode(json.loads(line)["payload"]))
    assert shown == json.dumps([one] * 3, indent=2, ensure_ascii=False) + "\n"


# -- prov log prove / verify-proof -----------------------------------------------------------


def prove(custody: Custody, out: Path, entry: int, *since: str) -> Path:
    ok(run_prov("log", "prove", "--case", str(custody.case), "--entry", str(entry), *since,
                "-o", str(out), env=custody.env))
    return out


def verify_proof(custody: Custody, proof: Path, checkpoint: Path,
                 *trust: str) -> subprocess.CompletedProcess[str]:
    proc = run_prov("log", "verify-proof", str(proof), "--checkpoint", str(checkpoint), *trust,
                    env=prov_env(proof.parent / "auditor"))
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.mark.parametrize("entry", range(4))
def test_proof_of_each_entry_verifies_against_the_latest_checkpoint(
    custody: Custody, tmp_path: Path, entry: int
) -> None:
    seen = tmp_path / "seen.checkpoint"
    seen.write_bytes(latest_note(custody, custody.case))
    proof = prove(custody, tmp_path / "proof.json", entry)
    doc = json.loads(proof.read_text())
    assert base64.b64decode(doc["entry"]) == log_lines(custody.case)[entry]
    assert (doc["index"], doc["treeSize"], doc["origin"]) == (entry, 4, custody.origin)
    assert doc["checkpoint"].encode() == seen.read_bytes()
    proc = verify_proof(custody, proof, seen, "--trust", str(custody.founding))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"checkpoint signed by {custody.founding_id}",
        f"entry {entry} is in the log of size 4",
        f"entry {entry} signed by {custody.founding_id}, a key the log trusts at that point",
        "the proof's checkpoint is the one you hold",
    ]
    assert [t["index"] for t in doc["trust"]] == [i for i in (0, 3) if i != entry]


def test_proof_at_a_later_size_proves_consistency_with_since(
    custody: Custody, tmp_path: Path
) -> None:
    proof = prove(custody, tmp_path / "proof.json", 3, "--since", str(custody.held))
    assert json.loads(proof.read_text())["consistency"]["fromSize"] == 2
    proc = verify_proof(custody, proof, custody.held, "--trust", str(custody.founding))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-3:] == [
        "entry 3 is in the log of size 4",
        f"entry 3 signed by {custody.founding_id}, a key the log trusts at that point",
        "the log grew consistently from your size 2 to 4"]


def test_proof_at_a_later_size_without_since_exits_3(custody: Custody, tmp_path: Path) -> None:
    proof = prove(custody, tmp_path / "proof.json", 1)
    proc = verify_proof(custody, proof, custody.held, "--trust", str(custody.founding))
    assert proc.returncode == 3
    assert "no consistency proof from size 2" in proc.stderr
    assert "--since" in proc.stderr
    assert proc.stdout == ""


def test_prove_a_missing_entry_is_a_usage_error(custody: Custody, tmp_path: Path) -> None:
    proc = run_prov("log", "prove", "--case", str(custody.case), "--entry", "4",
                    "-o", str(tmp_path / "proof.json"), env=custody.env)
    assert proc.returncode == 2
    assert "entry 4 does not exist (the log has 4)" in proc.stderr
    assert not (tmp_path / "proof.json").exists()


def flip_hex(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


def edit_entry_byte(doc: dict[str, Any], custody: Custody) -> None:
    line = bytearray(base64.b64decode(doc["entry"]))
    at = line.index(b'"sig":"') + 10
    line[at] = ord("A") if line[at] != ord("A") else ord("B")
    doc["entry"] = base64.b64encode(bytes(line)).decode()


def other_entry(doc: dict[str, Any], custody: Custody) -> None:
    """A real, validly signed line of the same log, at the wrong index."""
    doc["entry"] = base64.b64encode(log_lines(custody.case)[2]).decode()


def edit_checkpoint_root(doc: dict[str, Any], custody: Custody) -> None:
    root = doc["checkpoint"].split("\n")[2]
    forged = base64.b64encode(log_root(log_lines(custody.case)[:3])).decode()
    doc["checkpoint"] = doc["checkpoint"].replace(f"\n{root}\n", f"\n{forged}\n")


PROOF_MUTATIONS: dict[str, tuple[Callable[[dict[str, Any], Custody], None], str]] = {
    "inclusion hash changed": (
        lambda d, c: d["inclusion"].__setitem__(0, flip_hex(d["inclusion"][0])), "computed root"),
    "inclusion hash dropped": (
        lambda d, c: d["inclusion"].pop(), "expected 2 proof hashes, found 1"),
    "entry line edited": (edit_entry_byte, "entry 1: signature by"),
    "another entry's line": (other_entry, "entry 1: sequence number is not the entry's position"),
    "index changed": (lambda d, c: d.__setitem__("index", 2),
                      "entry 2: sequence number is not the entry's position"),
    "tree size changed": (lambda d, c: d.__setitem__("treeSize", 3), "proof is for size 3"),
    "checkpoint root changed": (edit_checkpoint_root, "does not verify"),
    "consistency hash changed": (
        lambda d, c: d["consistency"]["proof"].__setitem__(
            -1, flip_hex(d["consistency"]["proof"][-1])),
        "consistency of tree size 2 with size 4"),
    "consistency from another size": (
        lambda d, c: d["consistency"].__setitem__("fromSize", 1),
        "no consistency proof from size 2"),
    "not a proof": (lambda d, c: d.__setitem__("schema", "something/else"),
                    "not a prov inclusion proof"),
}


@pytest.mark.parametrize("mutation", sorted(PROOF_MUTATIONS))
def test_tampered_proof_exits_3(custody: Custody, tmp_path: Path, mutation: str) -> None:
    proof = prove(custody, tmp_path / "proof.json", 1, "--since", str(custody.held))
    trust = ("--trust", str(custody.founding))
    assert verify_proof(custody, proof, custody.held, *trust).returncode == 0
    doc = json.loads(proof.read_text())
    edit, message = PROOF_MUTATIONS[mutation]
    edit(doc, custody)
    proof.write_text(json.dumps(doc, indent=2) + "\n")
    proc = verify_proof(custody, proof, custody.held, *trust)
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    assert message in proc.stderr
    assert proc.stdout == ""


class PlantingLog(CustodyLog):
    """How someone holding a key writes entries prov refuses (``provenance.custody.signers``):
    signed and checkpointed like prov's own, without asking whether the case could verify
    them."""

    def check_new_lines(self, lines: Sequence[bytes], key: SigningKey, first_seq: int) -> None:
        pass


def append_note(case: Path, key: SigningKey) -> int:
    """A `note` entry signed by ``key`` (and the checkpoint over it); its sequence number."""
    opened = Case.open(case)
    with opened.lock():
        PlantingLog(opened).append([NewEntry("note", (), {"text": "by " + key.name})], key,
                                  timefmt.utc_now())
    return len(log_lines(case)) - 1


def prove_in(custody: Custody, case: Path, out: Path, entry: int) -> Path:
    ok(run_prov("log", "prove", "--case", str(case), "--entry", str(entry), "-o", str(out),
                env=custody.env))
    return out


def test_a_proof_of_an_entry_signed_by_an_untrusted_key_exits_3(
    custody: Custody, tmp_path: Path
) -> None:
    """The checkpoint is the operator's (a later command signed over the planted line), the
    inclusion proof is sound; the entry's own signature is by a key the log never trusted."""
    case = copy_case(custody, tmp_path)
    stranger = SigningKey.generate("stranger")
    planted = append_note(case, stranger)
    ok(run_prov("keys", "add", str(public_key_file(tmp_path, "later")[0]), "--case", str(case),
                env=custody.env))  # the operator's next command signs a checkpoint over it
    proof = prove_in(custody, case, tmp_path / "proof.json", planted)
    held = tmp_path / "latest.checkpoint"
    held.write_bytes(latest_note(custody, case))
    for trust in (("--trust", str(custody.founding)), ()):  # without: the proof's own init
        proc = verify_proof(custody, proof, held, *trust)
        assert proc.returncode == 3, (trust, proc.stdout, proc.stderr)
        assert f"entry {planted}: signed by {stranger.key_id}, which is not a trusted key" in (
            proc.stderr)
        assert proc.stdout == ""


def test_a_proof_without_trust_fails_unless_allowed_then_replays_from_its_own_init(
    custody: Custody, tmp_path: Path
) -> None:
    proof = prove(custody, tmp_path / "proof.json", 2)
    held = tmp_path / "latest.checkpoint"
    held.write_bytes(latest_note(custody, custody.case))
    proc = verify_proof(custody, proof, held)
    assert proc.returncode == 3, proc.stderr
    assert "no trust anchor: nothing outside the proof vouches for its founding key" in (
        proc.stderr)
    assert proc.stdout == ""
    proc = verify_proof(custody, proof, held, "--allow-unanchored")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"checkpoint signed by {custody.founding_id}", "entry 2 is in the log of size 4",
        f"entry 2 signed by {custody.founding_id}, a key the log trusts at that point",
        "the proof's checkpoint is the one you hold"]
    assert (f"prov: warning: trust anchored only in the proof itself: compare the founding "
            f"key {custody.founding_id} out of band, then pass --trust-id") in proc.stderr


def test_a_proof_replays_trust_to_an_entry_by_a_key_the_log_added(
    custody: Custody, tmp_path: Path
) -> None:
    case = copy_case(custody, tmp_path)
    carol = SigningKey.generate("carol")
    (tmp_path / "carol.pub").write_bytes(carol.public.pem())
    ok(run_prov("keys", "add", str(tmp_path / "carol.pub"), "--case", str(case),
                env=custody.env))
    by_carol = append_note(case, carol)  # carol also signs the checkpoint
    proof = prove_in(custody, case, tmp_path / "proof.json", by_carol)
    held = tmp_path / "latest.checkpoint"
    held.write_bytes(latest_note(custody, case))
    proc = verify_proof(custody, proof, held, "--trust", str(custody.founding))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[:3] == [
        f"checkpoint signed by {carol.key_id}", f"entry {by_carol} is in the log of size "
        f"{by_carol + 1}", f"entry {by_carol} signed by {carol.key_id}, a key the log trusts "
        "at that point"]
    doc = json.loads(proof.read_text())
    doc["trust"] = [t for t in doc["trust"] if t["index"] != by_carol - 1]  # hide carol's key
    proof.write_text(json.dumps(doc))
    proc = verify_proof(custody, proof, held, "--trust", str(custody.founding))
    assert proc.returncode == 3
    assert "which is not a trusted key" in proc.stderr


def test_proof_against_another_cases_checkpoint_exits_3(
    custody: Custody, other_checkpoint: Path, tmp_path: Path
) -> None:
    proof = prove(custody, tmp_path / "proof.json", 1, "--since", str(custody.held))
    proc = verify_proof(custody, proof, other_checkpoint, "--trust", str(custody.founding))
    assert proc.returncode == 3
    other_origin = note_fields(other_checkpoint.read_bytes())[0]
    assert f"your checkpoint is of {other_origin}, the proof of {custody.origin}" in proc.stderr


def test_proof_against_a_forked_checkpoint_of_the_same_size_exits_3(
    custody: Custody, tmp_path: Path
) -> None:
    note = latest_note(custody, custody.case)
    root = note.split(b"\n")[2]
    forked = tmp_path / "forked.checkpoint"
    forked.write_bytes(note.replace(b"\n" + root + b"\n",
                                    b"\n" + base64.b64encode(bytes(32)) + b"\n"))
    proof = prove(custody, tmp_path / "proof.json", 0)
    proc = verify_proof(custody, proof, forked, "--trust", str(custody.founding))
    assert proc.returncode == 3
    assert "the log forked" in proc.stderr


# -- custodians ------------------------------------------------------------------------------


def custody_report(custody: Custody, case: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(ok(run_prov(
        "custody", "report", "--json", "--case", str(case), env=custody.env)).stdout)
    assert report["schema"] == "prov/custody-report/v1"
    return report


def entries(custody: Custody, case: Path) -> list[dict[str, Any]]:
    shown: list[dict[str, Any]] = json.loads(ok(run_prov(
        "log", "show", "--json", "--case", str(case), env=custody.env)).stdout)
    return shown


def recipient(tmp_path: Path, name: str) -> tuple[dict[str, str], Path, str]:
    """A recipient with their own PROV_HOME and key `name`; their public key file."""
    env = prov_env(tmp_path / name)
    key_id = ok(run_prov("keys", "generate", "--name", name, env=env)).stdout.strip()
    pub = tmp_path / f"{name}.pub"
    pub.write_text(ok(run_prov("keys", "export", "--name", name, env=env)).stdout)
    return env, pub, key_id


def test_transfer_accept_dispose_and_the_chain_of_custody(
    custody: Custody, tmp_path: Path
) -> None:
    case = copy_case(custody, tmp_path)
    bob_env, bob_pub, bob_id = recipient(tmp_path, "bob")
    proc = ok(run_prov("custody", "transfer", "--case", str(case), "--to", str(bob_pub),
                       "--note", "to the prosecutor", env=custody.env))
    assert proc.stdout.strip() == bob_id
    pending = custody_report(custody, case)["pendingTransfer"]
    assert (pending["seq"], pending["from"], pending["to"], pending["note"]) == (
        4, custody.founding_id, bob_id, "to the prosecutor")
    code, report = audit(custody, case, tmp_path / "auditor-in-transit")
    assert code == 0, fails(report)

    proc = ok(run_prov("custody", "accept", "--case", str(case), "--key", "bob",
                       "--note", "received", env=bob_env))
    assert "accepted the transfer of entry 4" in proc.stderr
    ok(run_prov("keys", "add", str(public_key_file(tmp_path, "late")[0]), "--case", str(case),
                env=custody.env))  # the former custodian still acts: shown as by another
    ok(run_prov("custody", "dispose", "--case", str(case), "--key", "bob", "--as", "archived",
                "--note", "case closed", env=bob_env))

    log = entries(custody, case)
    assert [(e["seq"], e["action"], e["actor"]) for e in log[4:]] == [
        (4, "transfer", custody.founding_id), (5, "accepted", bob_id),
        (6, "key-trusted", custody.founding_id), (7, "disposition", bob_id)]
    assert log[4]["details"]["to"] == bob_id
    assert log[5]["details"] == {"transfer": 4, "name": "bob", "note": "received"}
    times = [e["time"] for e in log]

    chain = custody_report(custody, case)
    assert chain["periods"] == [
        {"custodian": custody.founding_id, "name": "default", "from": times[0],
         "until": times[4], "actions": {"capture": 2, "key-trusted": 1, "transfer": 1},
         "endedBy": "transfer #4"},
        {"custodian": bob_id, "name": "bob", "from": times[5], "until": times[7],
         "actions": {"accepted": 1, "disposition": 1}, "endedBy": "disposition"},
    ]
    assert chain["gaps"] == [{"from": times[4], "until": times[5],
                              "between": [custody.founding_id, bob_id], "reason": "in transit"}]
    assert chain["actionsByOthers"] == [
        {"seq": 6, "time": times[6], "actor": custody.founding_id, "action": "key-trusted"}]
    assert chain["pendingTransfer"] is None
    assert chain["disposition"] == {"seq": 7, "time": times[7], "disposition": "archived",
                                    "note": "case closed"}

    text = ok(run_prov("custody", "report", "--case", str(case), env=custody.env)).stdout
    assert f"{times[0]} .. {times[4]}  {custody.founding_id}  (default)" in text
    assert f"{times[5]} .. {times[7]}  {bob_id}  (bob)" in text
    assert "ended by transfer #4" in text and "ended by disposition" in text
    assert f"GAP {times[4]} .. {times[5]}: in transit" in text
    assert f"NOTE entry 6 (key-trusted) by {custody.founding_id}, not the custodian" in text
    assert "PENDING" not in text

    code, report = audit(custody, case, tmp_path / "auditor")
    assert code == 0, fails(report)
    assert not found(report, "custody.accepted")
    assert len(found(report, "checkpoint", "pass")) == 8  # bob's checkpoints verify too


def test_accept_without_a_pending_transfer_is_refused(custody: Custody, tmp_path: Path) -> None:
    case = copy_case(custody, tmp_path)
    before = (case / LOG).read_bytes()
    proc = run_prov("custody", "accept", "--case", str(case), env=custody.env)
    assert proc.returncode == 2
    assert f"no pending transfer of custody to {custody.founding_id}" in proc.stderr
    assert (case / LOG).read_bytes() == before


def test_accept_by_another_key_than_the_recipient_is_refused(
    custody: Custody, tmp_path: Path
) -> None:
    case = copy_case(custody, tmp_path)
    _, bob_pub, _ = recipient(tmp_path, "bob")
    carol_env, _, carol_id = recipient(tmp_path, "carol")
    ok(run_prov("custody", "transfer", "--case", str(case), "--to", str(bob_pub),
                env=custody.env))
    before = (case / LOG).read_bytes()
    proc = run_prov("custody", "accept", "--case", str(case), "--key", "carol", env=carol_env)
    assert proc.returncode == 2
    assert f"no pending transfer of custody to {carol_id}" in proc.stderr
    assert (case / LOG).read_bytes() == before


def append_accepted(case: Path, key: SigningKey, transfer: int) -> None:
    """What the CLI refuses to write: an `accepted` entry, validly signed and checkpointed."""
    opened = Case.open(case)
    with opened.lock():
        PlantingLog(opened).append(
            [NewEntry("accepted", (), {"transfer": transfer, "name": key.name})],
            key, timefmt.utc_now())


@pytest.mark.parametrize("transfer_first", [False, True], ids=["no-transfer", "wrong-signer"])
def test_an_accepted_entry_without_its_transfer_fails_verify(
    custody: Custody, tmp_path: Path, transfer_first: bool
) -> None:
    case = copy_case(custody, tmp_path)
    carol = SigningKey.generate("carol")
    (tmp_path / "carol.pub").write_bytes(carol.public.pem())
    ok(run_prov("keys", "add", str(tmp_path / "carol.pub"), "--case", str(case),
                env=custody.env))  # carol may sign entries, but nobody handed her custody
    _, bob_pub, bob_id = recipient(tmp_path, "bob")
    if transfer_first:
        ok(run_prov("custody", "transfer", "--case", str(case), "--to", str(bob_pub),
                    env=custody.env))
    append_accepted(case, carol, len(log_lines(case)) - 1)
    seq = len(log_lines(case)) - 1
    code, report = audit(custody, case, tmp_path / "auditor")
    assert code == 3
    [failure] = fails(report)
    assert failure["check"] == "custody.accepted"
    assert failure["subject"] == f"custody/log.jsonl entry {seq}"
    assert failure["found"] == carol.key_id
    assert failure["expected"] == (bob_id if transfer_first else "a pending transfer")


# -- auditors' cosignatures: verify --record -------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    case: Path
    auditor_pub: Path
    auditor_id: str
    cosignature: Path
    checkpoint: Path


def record(custody: Custody, tmp_path: Path) -> Recorded:
    case = copy_case(custody, tmp_path)
    home = tmp_path / "auditor"
    auditor_env, auditor_pub, auditor_id = recipient(home, "auditor")
    assert auditor_env["PROV_HOME"] == str(home / "auditor" / "prov-home")
    log_before = (case / LOG).read_bytes()
    files_before = {p.relative_to(case) for p in case.rglob("*") if p.is_file()}
    code, report = audit(custody, case, home / "auditor", "--record", "--key", "auditor")
    assert code == 0, fails(report)
    hex16 = auditor_id.split(":")[1][:16]
    rel = checkpoint_rel(4, f"{hex16}.cosignature")
    [written] = found(report, "cosignature.record", "info")
    assert written["subject"] == rel
    assert (case / LOG).read_bytes() == log_before, "--record appends nothing to the log"
    files_after = {p.relative_to(case) for p in case.rglob("*") if p.is_file()}
    assert files_after - files_before == {Path(rel)}
    return Recorded(case, auditor_pub, auditor_id, case / rel, case / checkpoint_rel(4))


def test_record_writes_a_c2sp_cosignature_beside_the_checkpoint(
    custody: Custody, tmp_path: Path
) -> None:
    done = record(custody, tmp_path)
    note, checkpoint = done.cosignature.read_bytes(), done.checkpoint.read_bytes()
    assert note.startswith(checkpoint)
    extra = note[len(checkpoint):].decode()
    assert extra.endswith("\n") and extra.count("\n") == 1
    dash, name, blob64 = extra[:-1].split(" ")
    hex16 = done.auditor_id.split(":")[1][:16]
    assert (dash, name) == (DASH, f"prov-auditor/{hex16}")
    blob = base64.b64decode(blob64)
    raw = PublicKey.load(done.auditor_pub).raw
    assert len(blob) == 4 + 8 + 64
    assert blob[:4] == hashlib.sha256(name.encode() + b"\n\x04" + raw).digest()[:4]
    timestamp = int.from_bytes(blob[4:12], "big")
    assert abs(timestamp - timefmt.utc_now().timestamp()) < 600
    text = checkpoint.split(b"\n\n")[0] + b"\n"
    Ed25519PublicKey.from_public_bytes(raw).verify(  # raises unless c2sp.org/tlog-cosignature
        blob[12:], b"cosignature/v1\ntime %d\n" % timestamp + text)


def test_a_cosignature_passes_for_those_who_trust_the_auditor(
    custody: Custody, tmp_path: Path
) -> None:
    done = record(custody, tmp_path)
    rel = str(done.cosignature.relative_to(done.case))
    code, report = audit(custody, done.case, tmp_path / "reader", "--trust",
                         str(done.auditor_pub))
    assert code == 0, fails(report)
    [passed] = found(report, "cosignature")
    assert (passed["status"], passed["subject"]) == ("pass", rel)
    assert done.auditor_id in passed["message"]
    code, report = audit(custody, done.case, tmp_path / "stranger")
    assert code == 0, fails(report)
    [claimed] = found(report, "cosignature")
    assert (claimed["status"], claimed["subject"]) == ("warn", rel)  # a claim, not checked
    assert claimed["message"].startswith("claims a cosignature by") and "NOT checked" in (
        claimed["message"])


def _edit_blob(note: bytes, at: int) -> bytes:
    head, _, blob64 = note[:-1].rpartition(b" ")
    blob = bytearray(base64.b64decode(blob64))
    blob[at] ^= 0x01
    return head + b" " + base64.b64encode(bytes(blob)) + b"\n"


def _edit_char(note: bytes, anchor: bytes, offset: int) -> bytes:
    at = note.index(anchor) + offset
    data = bytearray(note)
    data[at] = ord("A") if data[at] != ord("A") else ord("B")
    return bytes(data)


COSIGNATURE_MUTATIONS: dict[str, Callable[[bytes], bytes]] = {
    "signature byte": lambda n: _edit_blob(n, 40),
    "timestamp byte": lambda n: _edit_blob(n, 11),
    "key hint byte": lambda n: _edit_blob(n, 0),
    "cosigner name": lambda n: _edit_char(n, b"prov-auditor/", 2),
    "checkpoint root": lambda n: _edit_char(n, b"\n4\n", 5),
    "operator's signature": lambda n: _edit_char(n, f"{DASH} prov-case/".encode(), 80),
    "cosignature line dropped": lambda n: n[: n[:-1].rindex(b"\n") + 1],
}


@pytest.mark.parametrize("mutation", sorted(COSIGNATURE_MUTATIONS))
def test_an_edited_cosignature_fails(custody: Custody, tmp_path: Path, mutation: str) -> None:
    done = record(custody, tmp_path)
    original = done.cosignature.read_bytes()
    edited = COSIGNATURE_MUTATIONS[mutation](original)
    assert edited != original
    done.cosignature.write_bytes(edited)
    code, report = audit(custody, done.case, tmp_path / "reader", "--no-remember",
                         "--trust", str(done.auditor_pub))
    assert code == 3, report["findings"]
    assert [(f["check"], f["subject"]) for f in fails(report)] == [
        ("cosignature", str(done.cosignature.relative_to(done.case)))]


def test_record_writes_nothing_when_verify_fails(custody: Custody, tmp_path: Path) -> None:
    case = copy_case(custody, tmp_path)
    checkpoint = case / checkpoint_rel(4)
    checkpoint.write_bytes(_edit_char(checkpoint.read_bytes(), b"\n4\n", 5))
    home = tmp_path / "auditor"
    recipient(home, "auditor")
    code, report = audit(custody, case, home / "auditor", "--record", "--key", "auditor")
    assert code == 3
    assert "no cosignature written" in found(report, "cosignature.record", "info")[0]["message"]
    assert not list(case.rglob("*.cosignature"))


# -- the auditor's memory: $PROV_HOME/seen ---------------------------------------------------


def test_verify_remembers_what_it_verified(custody: Custody, tmp_path: Path) -> None:
    home = tmp_path / "auditor"
    folder = seen_folder(home, custody.origin)
    code, report = audit(custody, custody.case, home, "--no-remember")
    assert code == 0, fails(report)
    assert not found(report, "history.remembered") and not folder.exists()

    code, report = audit(custody, custody.case, home)
    assert code == 0, fails(report)
    assert found(report, "history.unanchored", "warn")
    # the checkpoint seen, the roots that anchor it, and this passing full verify
    assert sorted(p.name for p in folder.iterdir()) == [
        f"{4:020d}.checkpoint", "full-verify.json", "roots"]
    lines = log_lines(custody.case)  # the tree head at every checkpoint size the case holds
    assert (folder / "roots").read_text() == "".join(
        f"{size} {log_root(lines[:size]).hex()}\n" for size in range(1, 5)
        if (custody.case / checkpoint_rel(size)).exists())
    stored = folder / f"{4:020d}.checkpoint"
    assert stored.read_bytes() == (custody.case / checkpoint_rel(4)).read_bytes()
    assert str(folder) in found(report, "history.remembered", "info")[0]["message"]

    code, report = audit(custody, custody.case, home)
    assert code == 0, fails(report)
    assert not found(report, "history.unanchored")
    assert [f["subject"] for f in found(report, "history.consistent", "pass")] == [str(stored)]


def test_a_log_anchored_only_in_itself_is_not_remembered(custody: Custody,
                                                         tmp_path: Path) -> None:
    """Anyone can found a log under a copied origin: without an outside anchor, what it
    says cannot become the auditor's memory of that origin."""
    home = tmp_path / "auditor"
    proc = run_prov("verify", str(custody.case), "--json", "--allow-unanchored",
                    env=prov_env(home))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [f["status"] for f in found(report, "trust.anchor")] == ["warn"]
    [note] = found(report, "history.remembered", "info")
    assert note["message"].startswith("nothing remembered")
    assert not seen_folder(home, custody.origin).exists()


def roll_back(case: Path, size: int) -> None:
    """Cut the log to `size` entries and delete the later checkpoints: consistent with itself."""
    lines = log_lines(case)
    (case / LOG).write_bytes(b"".join(line + b"\n" for line in lines[:size]))
    for later in range(size + 1, len(lines) + 1):
        (case / checkpoint_rel(later)).unlink()


def test_a_rolled_back_copy_fails_against_the_remembered_checkpoint(
    custody: Custody, tmp_path: Path
) -> None:
    home = tmp_path / "auditor"
    code, report = audit(custody, custody.case, home)
    assert code == 0, fails(report)
    rolled = copy_case(custody, tmp_path, "case-rolled")
    roll_back(rolled, 2)
    fresh_code, fresh = audit(custody, rolled, tmp_path / "first-look", "--no-remember")
    assert fresh_code == 0, fails(fresh)  # undetectable without a memory
    assert found(fresh, "history.unanchored", "warn")

    stored = seen_folder(home, custody.origin) / f"{4:020d}.checkpoint"
    last_full = (stored.parent / "full-verify.json").read_bytes()
    code, report = audit(custody, rolled, home)
    assert code == 3
    [failure] = fails(report)
    assert (failure["check"], failure["subject"]) == ("history.rollback", str(stored))
    assert (failure["expected"], failure["found"]) == (">= 4", "2")
    remembered = seen_folder(home, custody.origin)
    assert sorted(p.name for p in remembered.iterdir()) == [
        stored.name, "full-verify.json", "roots"]
    assert (remembered / "full-verify.json").read_bytes() == last_full  # a failure is not one


def test_a_log_rewritten_and_resigned_by_the_operator_fails_as_a_fork(
    custody: Custody, tmp_path: Path
) -> None:
    home = tmp_path / "auditor"
    code, report = audit(custody, custody.case, home)
    assert code == 0, fails(report)
    forked = copy_case(custody, tmp_path, "case-forked")
    roll_back(forked, 3)  # drop the key-trusted entry, then log another one in its place
    ok(run_prov("keys", "add", str(public_key_file(tmp_path, "other")[0]), "--case",
                str(forked), env=custody.env))
    assert len(log_lines(forked)) == 4
    fresh_code, fresh = audit(custody, forked, tmp_path / "first-look", "--no-remember")
    assert fresh_code == 0, fails(fresh)  # a valid case of its own

    code, report = audit(custody, forked, home)
    assert code == 3
    [failure] = fails(report)
    assert failure["check"] == "history.fork"
    assert failure["expected"] == "sha256:" + log_root(log_lines(custody.case)).hex()
    assert failure["found"] == "sha256:" + log_root(log_lines(forked)).hex()
