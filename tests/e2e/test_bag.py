"""`prov export bag` end to end: the test follows the bag's own VERIFY.txt literally, running
its commands (bagit.py, coreutils, OpenSSL, warcio) in bash from the bag's folder, on an
intact bag (every step passes) and on tampered ones (the step that should fail fails, the
steps before it still pass); `prov verify` recognises a bag and judges the same bags.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from exports import Built, build, entries
from helpers import run_measured, run_prov
from tsa import LocalTSA

from provenance.exports.bag import PAYLOAD_TYPE, TAG_FILES
from provenance.signing.dsse import sign_envelope
from provenance.signing.keys import SigningKey

EXIT_OK, EXIT_INTEGRITY = 0, 3
BIN = Path(sys.executable).parent
BEGIN, END = "@@begin-step-", "@@end-step-"


@dataclass
class Step:
    number: int
    lines: list[str]  # as a user pastes them, indentation and comments included
    prints: list[str]  # the `# prints: text` lines


@dataclass
class Pasted:
    results: dict[int, bool]  # step -> it printed "step N: pass" and every `# prints:` line
    output: dict[int, list[str]]  # step -> the lines it printed


def read_steps(bag: Path) -> list[Step]:
    """The numbered steps of VERIFY.txt: the indented lines under each `Step N:` heading."""
    steps: list[Step] = []
    current: Step | None = None
    for line in (bag / "VERIFY.txt").read_text().splitlines():
        if match := re.match(r"^Step (\d+): ", line):
            current = Step(int(match.group(1)), [], [])
            steps.append(current)
        elif line.startswith("Then"):
            current = None
        elif current is not None and line.startswith("    "):
            current.lines.append(line)
            if line.startswith("    # prints: "):
                current.prints.append(line[len("    # prints: "):])
    return steps


def paste_steps(bag: Path, tsa_root: Path | None, scratch: Path) -> Pasted:
    """Every step pasted, one after the other, into one interactive bash in the bag's folder
    (history expansion and all), after the `TSA_ROOT=` line the text asks for. A marker
    after each step shows the shell is still open."""
    scratch.mkdir(parents=True, exist_ok=True)
    steps = read_steps(bag)
    pasted = [f"    TSA_ROOT={shlex.quote(str(tsa_root))}"] if tsa_root else []
    for step in steps:
        pasted += [f"echo {BEGIN}{step.number}", *step.lines, f"echo {END}{step.number}"]
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "TMPDIR": str(scratch),
           "HISTFILE": str(scratch / "history")}
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-i"], input="\n".join(pasted) + "\n",
                          cwd=bag, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    output: dict[int, list[str]] = {}
    current: list[str] | None = None
    for line in proc.stdout.splitlines():
        if line.startswith(BEGIN):
            current = output.setdefault(int(line[len(BEGIN):]), [])
        elif line.startswith(END):
            current = None
        elif current is not None:
            current.append(line)
    ended = {int(line[len(END):]) for line in proc.stdout.splitlines() if line.startswith(END)}
    assert ended == {s.number for s in steps}, ("the shell closed", proc.stdout, proc.stderr)
    results = {}
    for step in steps:
        printed = output[step.number]
        verdicts = [x for x in printed if x.startswith(f"step {step.number}: ")]
        assert len(verdicts) == 1, (step.number, printed)
        results[step.number] = (verdicts[0].startswith(f"step {step.number}: pass")
                                and all(p in printed for p in step.prints))
    return Pasted(results, output)


def run_steps(bag: Path, tsa_root: Path) -> dict[int, bool]:
    return paste_steps(bag, tsa_root, bag.parent / f"{bag.name}-shell").results


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    with LocalTSA(key="rsa", intermediate=True, embed_chain=True) as tsa:
        yield build(tmp_path_factory.mktemp("bag"), tsa)


@pytest.fixture(scope="module")
def bag(built: Built) -> Path:
    out = built.root / "bag"
    proc: Any = built.prov("export", "bag", "--case", str(built.case), "-o", str(out),
                           "--contact", "Jane Doe, Evidence Unit", "--tsa", str(built.tsa.url))
    assert proc.returncode == EXIT_OK, proc.stderr
    assert "stamped by 1 TSA" in proc.stdout
    return out


def test_intact_bag_passes_every_step(built: Built, bag: Path, tmp_path: Path) -> None:
    steps = read_steps(bag)
    assert [s.number for s in steps] == [1, 2, 3, 4, 5, 6]
    pasted = paste_steps(bag, built.tsa_root(), tmp_path / "shell")
    assert pasted.results == dict.fromkeys(range(1, 7), True), pasted.output
    # step 5 checks every token, the checkpoint tokens in their shard folders included
    checked = {line for line in pasted.output[5] if line.endswith(".tsr")}
    on_disk = {p.relative_to(bag).as_posix() for p in bag.glob("data/custody/checkpoints/*/*.tsr")}
    assert on_disk and on_disk <= checked, (on_disk, pasted.output[5])
    assert f"step 5: pass ({len(list(bag.rglob('*.tsr')))} tokens)" in pasted.output[5]
    assert not any(line.startswith("missing:") for line in pasted.output[5])
    # step 6 counts revisits apart, and promises "digest pass" only for the checked records
    counted = {line.split(None, 1)[1]: int(line.split(None, 1)[0]) for line in pasted.output[6]
               if line.strip() and line.split(None, 1)[0].isdigit()}
    assert counted.get("digest present but not checked (revisit)", 0) >= 1, pasted.output[6]
    assert counted.get("digest pass", 0) >= 10, pasted.output[6]
    info = (bag / "bag-info.txt").read_text()
    case_id = json.loads((built.case / "case.json").read_bytes())["id"]
    for field in (f"External-Identifier: {case_id}", "Title: Export test <case> & co",
                  "Contact-Name: Jane Doe, Evidence Unit", "Bag-Software-Agent: prov ",
                  "Prov-Verification: pass"):
        assert field in info
    assert (bag / "bagit.txt").read_text().startswith("BagIt-Version: 1.0\n")
    assert len(list(bag.glob("tagmanifest.*.tsr"))) == 1
    listed = {line.split("  ", 1)[1] for line in (bag / "manifest-sha512.txt").read_text()
              .splitlines()}
    assert "data/custody/log.jsonl" in listed and "data/case.json" in listed
    assert any(n.endswith(".tsr") and n.startswith("data/captures/") for n in listed)
    assert not any(n.startswith("data/state") for n in listed)


def test_prov_verify_recognises_the_bag_and_logs_export(built: Built, bag: Path) -> None:
    code, report = built.verify(bag, "--no-remember")
    assert code == EXIT_OK, [f for f in report["findings"] if f["status"] == "fail"]
    assert report["kind"] == "bag"
    checks = {f["check"] for f in report["findings"] if f["status"] == "pass"}
    assert {"bag.manifest", "bag.signature", "timestamp", "capture", "seal.signature"} <= checks
    logged: Any = [e for e in entries(built) if e["action"] == "export"][-1]
    tagmanifest = (bag / "tagmanifest-sha256.txt").read_bytes()
    assert logged["details"]["kind"] == "bag"
    assert logged["details"]["manifestSha256"] == hashlib.sha256(tagmanifest).hexdigest()


def test_tokens_need_tsa_root_and_a_bag_without_tokens_does_not(
        built: Built, bag: Path, tmp_path: Path) -> None:
    forgot = paste_steps(bag, None, tmp_path / "forgot")
    assert forgot.results == {**dict.fromkeys(range(1, 7), True), 5: False}, forgot.output
    assert "TSA_ROOT is not a file: set it first" in forgot.output[5]
    plain = build(tmp_path / "plain", None)  # no TSA: no token anywhere
    out = plain.root / "bag"
    proc: Any = plain.prov("export", "bag", "--case", str(plain.case), "-o", str(out))
    assert proc.returncode == EXIT_OK, proc.stderr
    assert not list(out.rglob("*.tsr"))
    pasted = paste_steps(out, None, tmp_path / "plain-shell")
    assert pasted.results == dict.fromkeys(range(1, 7), True), pasted.output
    assert "step 5: pass (0 tokens)" in pasted.output[5]


# -- tampering ---------------------------------------------------------------------------------


def _warc(bag: Path) -> Path:
    return sorted(bag.glob("data/captures/*/*/*/*/data-00000.warc.gz"))[0]


def _members(data: bytes) -> list[bytes]:
    out, rest = [], data
    while rest:
        inflate = zlib.decompressobj(31)
        inflate.decompress(rest)
        out.append(rest[: len(rest) - len(inflate.unused_data)])
        rest = inflate.unused_data
    return out


def _edit_record(bag: Path) -> None:
    """Change one letter of the archived page inside its record (a valid gzip member whose
    WARC digests no longer match)."""
    path = _warc(bag)
    members = _members(path.read_bytes())
    for i, member in enumerate(members):
        text = gzip.decompress(member)
        if b"The Riverside Courier" in text:
            members[i] = gzip.compress(text.replace(b"Riverside", b"Riversidf", 1))
            break
    path.write_bytes(b"".join(members))


def _remanifest(bag: Path) -> None:
    """What a forger without the key can do: make every manifest agree again."""
    payload = [p for p in (bag / "data").rglob("*") if p.is_file()]
    oxum = f"Payload-Oxum: {sum(p.stat().st_size for p in payload)}.{len(payload)}"
    info = bag / "bag-info.txt"
    info.write_text(re.sub(r"(?m)^Payload-Oxum: .*$", oxum, info.read_text()))
    for kind, names in (("manifest", None), ("tagmanifest", TAG_FILES)):
        for algo in ("sha256", "sha512"):
            path = bag / f"{kind}-{algo}.txt"
            files = names or [line.split("  ", 1)[1] for line in path.read_text().splitlines()]
            path.write_text("".join(f"{hashlib.new(algo, (bag / f).read_bytes()).hexdigest()}"
                                    f"  {f}\n" for f in files))


def _flip_payload(bag: Path) -> None:
    _edit_record(bag)


def _rebag(bag: Path) -> None:
    _edit_record(bag)
    _remanifest(bag)


def _swap_token(bag: Path) -> None:
    token = next(bag.glob("tagmanifest.*.tsr"))
    seal_token = sorted(bag.glob("data/captures/*/*/*/*/seal.*.tsr"))[0]
    token.write_bytes(seal_token.read_bytes())


def _resign(bag: Path) -> None:
    """A forger's own key: a consistent bag, signed, but not by the key the sender named."""
    forger = SigningKey.generate("forger")
    pem = next(bag.glob("data/keys/*.pub"))
    for path in bag.glob("data/keys/*.pub"):
        if path.name in (bag / "VERIFY.txt").read_text():
            pem = path
    pem.write_bytes(forger.public.pem())
    _remanifest(bag)
    tagmanifest = (bag / "tagmanifest-sha256.txt").read_bytes()
    signed = sign_envelope(PAYLOAD_TYPE, tagmanifest, forger)
    text = signed.decode().replace(forger.key_id,
                                   "ed25519:" + pem.name.removesuffix(".pub"))
    (bag / "tagmanifest.dsse.json").write_text(text)


def _swap_checkpoint_token(bag: Path) -> None:
    """A checkpoint token that stamps something else (another checkpoint's), manifests made
    to agree: only the token check can see it."""
    tokens = sorted(bag.glob("data/custody/checkpoints/*/*.tsr"))
    assert len(tokens) >= 2, tokens
    tokens[-1].write_bytes(tokens[0].read_bytes())
    _remanifest(bag)


# mutation -> (first step that must fail, steps that must still pass)
MUTATIONS: dict[str, tuple[Callable[[Path], None], int, tuple[int, ...]]] = {
    "payload-byte": (_flip_payload, 1, (3, 4, 5)),
    "rebagged-without-key": (_rebag, 4, (1, 2, 3, 5)),
    "swapped-token": (_swap_token, 5, (1, 2, 3, 4, 6)),
    "swapped-checkpoint-token": (_swap_checkpoint_token, 5, (1, 2, 3, 6)),
    "resigned-by-another-key": (_resign, 3, (1, 2)),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_tampered_bag_fails_at_the_right_step(built: Built, bag: Path, tmp_path: Path,
                                              mutation: str) -> None:
    change, failing, passing = MUTATIONS[mutation]
    copy = tmp_path / "bag"
    shutil.copytree(bag, copy)
    change(copy)
    results = run_steps(copy, built.tsa_root())
    assert results[failing] is False, results
    assert all(results[n] for n in passing), results
    if mutation in ("payload-byte", "rebagged-without-key"):
        assert results[6] is False  # warcio: the record's digest no longer matches
    code, _ = built.verify(copy, "--no-remember")
    assert code == EXIT_INTEGRITY


def test_failing_case_is_refused_unless_allowed(built: Built, tmp_path: Path) -> None:
    broken = built.clone(tmp_path / "broken")
    _edit_record_in_case(broken.case)
    out = tmp_path / "out"
    proc: Any = broken.prov("export", "bag", "--case", str(broken.case), "-o", str(out))
    assert proc.returncode == EXIT_INTEGRITY and "fails verification" in proc.stderr
    assert not out.exists()
    proc = broken.prov("export", "bag", "--case", str(broken.case), "-o", str(out),
                       "--allow-failed")
    assert proc.returncode == EXIT_OK, proc.stderr
    assert (out / "VERIFY.txt").read_text().startswith("WARNING: exported with --allow-failed")
    assert "Prov-Verification: FAILED" in (out / "bag-info.txt").read_text()
    proc = broken.prov("export", "bag", "--case", str(broken.case), "-o", str(out))
    assert proc.returncode == 2 and "not an empty folder" in proc.stderr


def _edit_record_in_case(case: Path) -> None:
    warc = sorted(case.glob("captures/*/*/*/*/data-00000.warc.gz"))[0]
    members = _members(warc.read_bytes())
    text = gzip.decompress(members[-1])
    members[-1] = gzip.compress(text[:-10] + b"X" + text[-9:])
    warc.write_bytes(b"".join(members))


# -- history: a bag against what the auditor saw of the case before -------------------------


def audit(built: Built, target: Path, home: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """`prov verify --json` by an auditor whose $PROV_HOME is `home` (it remembers)."""
    env = {**built.env, "PROV_HOME": str(home)}
    proc = run_prov("verify", str(target), "--json", "--trust", str(built.pub), "--tsa-root",
                    str(built.tsa_root()), *args, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def log_size(case: Path) -> int:
    return (case / "custody" / "log.jsonl").read_bytes().count(b"\n")


def add_key(built: Built, folder: Path, name: str) -> None:
    pub = folder / f"{name}.pub"
    pub.write_bytes(SigningKey.generate(name).public.pem())
    proc: Any = built.prov("keys", "add", str(pub), "--case", str(built.case))
    assert proc.returncode == EXIT_OK, proc.stderr


def test_a_bag_older_than_the_case_seen_passes_and_says_how_much(
    built: Built, bag: Path, tmp_path: Path
) -> None:
    home = tmp_path / "auditor"
    code, report = audit(built, built.case, home)  # the case is newer: it logged the export
    assert code == EXIT_OK, [f for f in report["findings"] if f["status"] == "fail"]
    newer = log_size(built.case) - log_size(bag / "data")
    assert newer >= 1
    code, report = audit(built, bag, home)
    assert code == EXIT_OK, [f for f in report["findings"] if f["status"] == "fail"]
    [older] = [f for f in report["findings"] if f["check"] == "history.older"]
    seen = home / "seen" / json.loads((built.case / "case.json").read_bytes())["origin"]
    assert older["subject"] == str(seen / f"{log_size(built.case):020d}.checkpoint")
    assert f"the log seen is {newer} entries newer than the package" in older["message"]
    assert not any("//" in f["subject"] for f in report["findings"])


def test_a_bag_whose_log_was_cut_is_judged_against_the_case_seen(
    built: Built, bag: Path, tmp_path: Path
) -> None:
    """The bag's log cut inside an entry, so its size is one no checkpoint or seen root has:
    the history is judged at the log's own head (once a write to a closed spool, exit 1)."""
    home = tmp_path / "auditor"
    code, report = audit(built, built.case, home)
    assert code == EXIT_OK, [f for f in report["findings"] if f["status"] == "fail"]
    copy = tmp_path / "bag"
    shutil.copytree(bag, copy)
    log = copy / "data" / "custody" / "log.jsonl"
    lines = log.read_bytes().split(b"\n")
    log.write_bytes(b"\n".join(lines[:2]) + b"\n" + lines[2][:40])  # no checkpoint of 2
    code, report = audit(built, copy, home)
    assert code == EXIT_INTEGRITY
    found = {(f["status"], f["check"], f["subject"]) for f in report["findings"]}
    assert ("fail", "log.length", "data/custody/log.jsonl") in found
    assert ("fail", "bag.digest", "data/custody/log.jsonl") in found
    [older] = [f for f in report["findings"] if f["check"] == "history.unproven"]
    assert "the package's log (2 entries) is older" in older["message"]


def test_a_bag_of_a_forked_log_older_than_the_case_seen_is_a_fork(
    built: Built, tmp_path: Path
) -> None:
    """The operator rewrites the last entry, exports that: the bag is shorter than the case
    the auditor saw, and its tree head at its size is not the one the auditor remembered."""
    honest = built.clone(tmp_path / "honest")
    add_key(honest, tmp_path, "later")
    home = tmp_path / "auditor"
    code, report = audit(honest, honest.case, home)
    assert code == EXIT_OK, [f for f in report["findings"] if f["status"] == "fail"]
    forked = built.clone(tmp_path / "forked")
    size = log_size(forked.case)
    log = forked.case / "custody" / "log.jsonl"
    log.write_bytes(b"".join(line + b"\n" for line in log.read_bytes().split(b"\n")[:size - 1]))
    for later in (forked.case / "custody" / "checkpoints" / f"{size:020d}"[:17]).glob(
            f"{size:020d}.*"):  # its checkpoint and tokens
        later.unlink()
    add_key(forked, tmp_path, "instead")
    out = tmp_path / "forked-bag"
    proc: Any = forked.prov("export", "bag", "--case", str(forked.case), "-o", str(out))
    assert proc.returncode == EXIT_OK, proc.stderr
    assert log_size(out / "data") == size < log_size(honest.case)
    code, report = audit(built, out, home)
    assert code == EXIT_INTEGRITY
    failed = [(f["check"], f["subject"]) for f in report["findings"] if f["status"] == "fail"]
    seen = home / "seen" / json.loads((built.case / "case.json").read_bytes())["origin"]
    assert failed == [("history.fork", str(seen / f"{log_size(honest.case):020d}.checkpoint"))]


def test_a_chain_beside_the_tag_manifest_no_token_carries_is_a_warning(
    built: Built, bag: Path, tmp_path: Path
) -> None:
    """The chain beside the tag manifest's token is judged as a case's certs/ is
    (``certs.unused``): a well-formed chain no token carries was swapped in or added."""
    code, report = built.verify(bag, "--no-remember")
    assert code == EXIT_OK
    assert not [f for f in report["findings"] if f["check"] == "certs.unused"]
    copy = tmp_path / "bag"
    shutil.copytree(bag, copy)
    [chain] = copy.glob("tagmanifest.*.pem")
    chain.write_bytes(built.tsa_root().read_bytes())  # well-formed, and carried by no token
    code, report = built.verify(copy, "--no-remember")
    assert code == EXIT_OK, [f for f in report["findings"] if f["status"] == "fail"]
    [unused] = [f for f in report["findings"] if f["check"] == "certs.unused"]
    assert (unused["status"], unused["subject"]) == ("warn", chain.name)
    code, _ = built.verify(copy, "--no-remember", "--strict")
    assert code == EXIT_INTEGRITY


def test_a_file_listed_again_and_again_is_hashed_once(built: Built, bag: Path,
                                                      tmp_path: Path) -> None:
    """The manifests are read before anything in them is trusted: a line repeated was a file
    hashed again, so a long manifest naming the largest file made verify hash for hours. A
    file is hashed once per manifest; the repeats are one finding with their count."""
    copy = tmp_path / "bag"
    shutil.copytree(bag, copy)
    manifest = copy / "manifest-sha256.txt"
    lines = manifest.read_bytes().splitlines(keepends=True)
    biggest = max(lines, key=lambda line: (copy / line.split(b"  ", 1)[1].strip().decode()
                                           ).stat().st_size)
    manifest.write_bytes(b"".join(lines) + biggest * 100_000)
    code, report = built.verify(copy, "--no-remember")
    assert code == EXIT_INTEGRITY
    [repeat] = [f for f in report["findings"] if (f["check"], f["subject"]) == (
        "bag.manifest", "manifest-sha256.txt")]
    assert repeat["status"] == "fail"
    assert "100,000 lines list a file an earlier line listed" in repeat["message"]


def test_millions_of_short_bag_info_lines_cost_no_memory(built: Built, bag: Path,
                                                         tmp_path: Path) -> None:
    """bag-info.txt is read before the tag manifest's signature is judged: 15 MiB of short
    lines were split into a list of every line to find one field (some 300 MB)."""
    copy = tmp_path / "bag"
    shutil.copytree(bag, copy)
    (copy / "bag-info.txt").write_bytes(b"ab\n" * (5 << 20))
    proc, peak = run_measured("verify", str(copy), "--json", "--no-remember", "--trust",
                              str(built.pub), "--tsa-root", str(built.tsa_root()),
                              env=built.env)
    assert proc.returncode == EXIT_INTEGRITY, proc.stderr
    report = json.loads(proc.stdout)
    assert [f["status"] for f in report["findings"] if (f["check"], f["subject"]) == (
        "bag.digest", "bag-info.txt")] == ["fail", "fail"]
    assert peak < 200 << 20, f"{peak >> 20} MiB"


def test_a_deleted_tag_manifest_token_fails_strict(built: Built, bag: Path,
                                                   tmp_path: Path) -> None:
    copy = tmp_path / "bag"
    shutil.copytree(bag, copy)
    [token] = copy.glob("tagmanifest.*.tsr")
    token.unlink()
    pasted = paste_steps(copy, built.tsa_root(), tmp_path / "shell")
    # reported, not failed (the TSA may have failed at export); one token fewer than promised
    assert f"missing: {token.name}" in pasted.output[5]
    assert any(x.startswith("step 5: pass (") for x in pasted.output[5]), pasted.output[5]
    code, _ = built.verify(copy, "--no-remember")
    assert code == EXIT_OK  # a TSA may have failed at export: a warning
    size = f"{log_size(copy / 'data'):020d}"
    held = built.case / "custody" / "checkpoints" / size[:17] / f"{size}.checkpoint"

    def strict(target: Path) -> tuple[int, list[tuple[str, str, str]]]:
        proc: Any = built.prov("verify", str(target), "--json", "--strict", "--no-remember",
                               "--since", str(held), "--trust", str(built.pub), "--tsa-root",
                               str(built.tsa_root()))
        report = json.loads(proc.stdout)
        return proc.returncode, [(f["status"], f["check"], f["subject"])
                                 for f in report["findings"] if f["status"] in ("warn", "fail")]

    _, intact = strict(bag)
    code, deleted = strict(copy)
    assert code == EXIT_INTEGRITY
    assert sorted(deleted) == sorted([*intact, ("warn", "timestamp.missing", token.name)])
