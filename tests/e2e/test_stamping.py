"""Trusted timestamps in the pipeline, end to end: `prov snapshot` / `prov timestamp` /
`prov verify` / `prov tsa trust` run as subprocesses against real local TSAs (tests/support/tsa.py)
and the local demo site, never the internet.

Covered: seal and checkpoint tokens from every configured TSA (EC, and RSA with an
intermediate), their log entries and chains; roots chosen by the verifier (--tsa-root,
`prov tsa trust`, --strict); `openssl ts -verify` on every stored token; outages leaving
stamps pending until `prov timestamp`; a failed TSA not asked again in a run; TSAs asked
concurrently; deleted or changed tokens; back-dated tokens; tokens dated after the moment
of verification, bound by no entry, or back-dated under a root the verifier did not choose
(untrusted, never evidence against the operator); hostile tokens refused at stamping time;
`tsa = [...]` in config.toml.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import rfc3161_client
import tsa as tsa_module
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from helpers import free_port, make_case, prov_env, run_prov
from tsa import Behaviour, LocalTSA, TsaFactory, expired_before_gen_time

from provenance.base import timefmt
from provenance.base.report import Report
from provenance.custody.log import checkpoint_rel
from provenance.signing.statements import Entry, Prev, Subject
from provenance.timestamps.rfc3161 import request_stamp, tsa_id
from provenance.timestamps.tsatrust import TsaRoots
from provenance.verification.stamps import StampJudge

EXIT_OK, EXIT_INTEGRITY, EXIT_CAPTURE_FAILED = 0, 3, 5
PAGES = ("/", "/article.html")

# -- running prov against a throwaway home and case ----------------------------------------------


@dataclass
class Env:
    """A PROV_HOME (key "default") and a case, both under `root`."""

    root: Path

    @property
    def env(self) -> dict[str, str]:
        return prov_env(self.root)

    @property
    def home(self) -> Path:
        return self.root / "prov-home"

    @property
    def case(self) -> Path:
        return self.root / "case"

    @property
    def pub(self) -> Path:
        return self.home / "keys" / "default.pub"

    def prov(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        # stdin is an empty pipe: prov must never prompt
        return run_prov(*args, env=self.env, input=b"", timeout=timeout)

    def snapshot(self, site: str, *tsa_urls: str, extra: tuple[str, ...] = ()
                 ) -> subprocess.CompletedProcess[str]:
        tsas = [arg for url in tsa_urls for arg in ("--tsa", url)]
        return self.prov("snapshot", "--case", str(self.case), *tsas, *extra,
                         *(site + page for page in PAGES))

    def entries(self) -> list[dict[str, Any]]:
        proc = self.prov("log", "show", "--json", "--case", str(self.case))
        assert proc.returncode == 0, proc.stderr
        value = json.loads(proc.stdout)
        assert isinstance(value, list)
        return value

    def verify(self, *args: str) -> tuple[int, dict[str, Any]]:
        proc = self.prov("verify", str(self.case), "--json", "--trust", str(self.pub), *args)
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError:
            raise AssertionError(f"verify printed no report: {proc.stderr}") from None
        return proc.returncode, report

    def write_root(self, tsa: LocalTSA, name: str) -> str:
        path = self.root / f"{name}.pem"
        path.write_bytes(tsa.root_pem)
        return str(path)

    def roots(self, *tsas: LocalTSA) -> list[str]:
        """`--tsa-root` options trusting the roots of `tsas`."""
        out = []
        for number, tsa in enumerate(tsas):
            out += ["--tsa-root", self.write_root(tsa, f"root-{number}")]
        return out


def clone(source: Path, dest: Path) -> Env:
    """Copy a home and case so a test can change them (verify writes to PROV_HOME/seen)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source / "prov-home", dest / "prov-home")
    shutil.copytree(source / "case", dest / "case")
    return Env(dest)


def findings(report: dict[str, Any], check: str, status: str | None = None
             ) -> list[dict[str, Any]]:
    return [f for f in report["findings"]
            if f["check"] == check and (status is None or f["status"] == status)]


def subjects(report: dict[str, Any], check: str, status: str) -> set[str]:
    return {f["subject"] for f in findings(report, check, status)}


def by_action(entries: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [e for e in entries if e["action"] == action]


def sha256_hex(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def token_gen_time(token: Path) -> datetime:
    """genTime as rfc3161-client reads it (an independent parser; whole seconds)."""
    gen: datetime = rfc3161_client.decode_timestamp_response(token.read_bytes()).tst_info.gen_time
    return gen if gen.tzinfo else gen.replace(tzinfo=UTC)


def partial_leftovers(case: Path) -> list[str]:
    partial = case / "captures" / ".partial"
    return sorted(p.name for p in partial.iterdir()) if partial.is_dir() else []


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Key "default" and an empty case, made once; tests copy them."""
    root = tmp_path_factory.mktemp("template")
    make_case(root)
    return root


@pytest.fixture
def fresh(template: Path, tmp_path: Path) -> Env:
    return clone(template, tmp_path / "fresh")


@dataclass
class Stamped:
    env: Env
    ec: LocalTSA
    rsa: LocalTSA  # with an intermediate, sent in the token: the case's chain needs it
    entries: list[dict[str, Any]]
    before: datetime
    after: datetime
    requests: dict[str, int]

    @property
    def tsas(self) -> dict[str, LocalTSA]:
        return {tsa_id(t.url): t for t in (self.ec, self.rsa)}

    @property
    def seal(self) -> str:
        (capture,) = by_action(self.entries, "capture")
        seal: str = capture["subjects"][0]["path"]
        return seal

    def seal_token(self, tsa: LocalTSA) -> str:
        return self.seal.rsplit("/", 1)[0] + f"/seal.{tsa_id(tsa.url)}.tsr"

    def checkpoint_token(self, tsa: LocalTSA) -> str:
        return checkpoint_rel(len(self.entries), f"{tsa_id(tsa.url)}.tsr")

    def all_tokens(self) -> set[str]:
        return {f(t) for t in (self.ec, self.rsa) for f in (self.seal_token, self.checkpoint_token)}


@pytest.fixture(scope="module")
def stamped(template: Path, tmp_path_factory: pytest.TempPathFactory, site: str
            ) -> Iterator[Stamped]:
    """One capture stamped by an EC TSA and an RSA TSA (read-only: clone it to change it)."""
    env = clone(template, tmp_path_factory.mktemp("stamped"))
    with LocalTSA(key="ec") as ec, LocalTSA(key="rsa", intermediate=True,
                                            embed_chain=True) as rsa:
        before = datetime.now(UTC)
        proc = env.snapshot(site, ec.url, rsa.url)
        after = datetime.now(UTC)
        assert proc.returncode == EXIT_OK, proc.stderr
        requests = {ec.url: len(ec.requests), rsa.url: len(rsa.requests)}
    yield Stamped(env, ec, rsa, env.entries(), before, after, requests)


# -- stamping with two TSAs ---------------------------------------------------------------------


def test_seal_and_checkpoint_are_stamped_by_every_tsa(stamped: Stamped) -> None:
    case, entries = stamped.env.case, stamped.entries
    (capture,) = by_action(entries, "capture")
    assert sorted(capture["details"]["tsa"]) == sorted(stamped.tsas)
    assert by_action(entries, "timestamp-pending") == []
    added = by_action(entries, "timestamp-added")
    assert sorted(e["details"]["tsaId"] for e in added) == sorted(stamped.tsas)
    for entry in added:
        details = entry["details"]
        tsa = stamped.tsas[details["tsaId"]]
        assert details["tsa"] == tsa.url
        assert details["stamped"] == stamped.seal
        token_rel = stamped.seal_token(tsa)
        token, chain = entry["subjects"]
        assert token == {"path": token_rel, "sha256": sha256_hex(case / token_rel)}
        gen_time = timefmt.parse_time(details["genTime"])
        assert stamped.before - timedelta(seconds=1) <= gen_time <= stamped.after
        assert gen_time.replace(microsecond=0) == token_gen_time(case / token_rel)
        offset = details["clockOffsetSeconds"]
        assert isinstance(offset, float | int) and abs(offset) < 5, offset
        # the chain: certs/<sha256 of the file>.pem, logged, holding the TSA's certificates
        chain_path = case / chain["path"]
        assert chain["path"] == f"certs/{sha256_hex(chain_path)}.pem"
        assert chain["sha256"] == sha256_hex(chain_path)
        stored = x509.load_pem_x509_certificates(chain_path.read_bytes())
        assert stored == x509.load_pem_x509_certificates(tsa.chain_pem)
    # the checkpoint written by the snapshot is stamped too, its tokens beside it
    for tsa in (stamped.ec, stamped.rsa):
        assert (case / stamped.checkpoint_token(tsa)).is_file()
        assert (case / checkpoint_rel(len(entries))).is_file()
    # each TSA asked exactly twice: the seal, then the checkpoint
    assert stamped.requests == {stamped.ec.url: 2, stamped.rsa.url: 2}


def test_verify_trusts_only_the_verifiers_tsa_roots(stamped: Stamped, tmp_path: Path) -> None:
    env = clone(stamped.env.root, tmp_path)
    tokens = stamped.all_tokens()
    ec_root = env.write_root(stamped.ec, "ec-root")
    rsa_root = env.write_root(stamped.rsa, "rsa-root")
    both = ["--tsa-root", ec_root, "--tsa-root", rsa_root]

    code, report = env.verify(*both)
    assert code == EXIT_OK, report
    assert subjects(report, "timestamp", "pass") == tokens
    assert findings(report, "timestamp.root") == []
    for finding in findings(report, "timestamp", "pass"):
        root = stamped.ec if "(ec)" in finding["message"] else stamped.rsa
        assert root.root_fingerprint in finding["message"] and "(trusted)" in finding["message"]
    code, report = env.verify("--strict", *both)  # the checkpoint is remembered by now
    assert code == EXIT_OK, [f for f in report["findings"] if f["status"] == "warn"]

    # roots stored in the case (or none) are not trust: warnings, which --strict fails
    code, report = env.verify()
    assert code == EXIT_OK
    assert subjects(report, "timestamp.root", "warn") == tokens
    assert findings(report, "timestamp", "pass") == []
    code, report = env.verify("--strict")
    assert code == EXIT_INTEGRITY
    assert {f["check"] for f in report["findings"] if f["status"] == "warn"} == {"timestamp.root"}

    # prov tsa trust: the user's own store
    proc = env.prov("tsa", "trust", ec_root)
    assert proc.returncode == 0, proc.stderr
    assert stamped.ec.root_fingerprint in proc.stdout
    code, report = env.verify("--strict")
    assert code == EXIT_INTEGRITY
    assert subjects(report, "timestamp", "pass") == {
        stamped.seal_token(stamped.ec), stamped.checkpoint_token(stamped.ec)}
    assert subjects(report, "timestamp.root", "warn") == {
        stamped.seal_token(stamped.rsa), stamped.checkpoint_token(stamped.rsa)}
    assert env.prov("tsa", "trust", rsa_root).returncode == 0
    code, report = env.verify("--strict")
    assert code == EXIT_OK, report
    assert subjects(report, "timestamp", "pass") == tokens


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_openssl_verifies_every_stored_token(stamped: Stamped, tmp_path: Path) -> None:
    case = stamped.env.case
    chains = {e["details"]["tsaId"]: case / e["subjects"][1]["path"]
              for e in by_action(stamped.entries, "timestamp-added")}
    tokens = sorted(case.glob("captures/*/*/*/*/seal.*.tsr"))
    tokens += sorted(case.glob("custody/checkpoints/*/*.tsr"))
    assert {t.relative_to(case).as_posix() for t in tokens} == stamped.all_tokens()

    def openssl_verify(data: Path, token: Path, tsa: LocalTSA, chain: Path
                       ) -> subprocess.CompletedProcess[str]:
        root = tmp_path / f"root-{tsa_id(tsa.url)}.pem"
        root.write_bytes(tsa.root_pem)
        at = str(int(token_gen_time(token).timestamp()))
        return subprocess.run(
            ["openssl", "ts", "-verify", "-data", str(data), "-in", str(token),
             "-CAfile", str(root), "-untrusted", str(chain), "-attime", at],
            capture_output=True, text=True, check=False, timeout=30)

    for token in tokens:
        stem, tid, _ = token.name.split(".")
        stamped_file = token.with_name("seal.dsse.json" if stem == "seal"
                                       else f"{stem}.checkpoint")
        result = openssl_verify(stamped_file, token, stamped.tsas[tid], chains[tid])
        assert result.returncode == 0, f"{token.name}: {result.stdout}{result.stderr}"
        assert "Verification: OK" in result.stdout
    # control: the same command refuses a token over other bytes
    seal_token = case / stamped.seal_token(stamped.ec)
    checkpoint = case / checkpoint_rel(len(stamped.entries))
    result = openssl_verify(checkpoint, seal_token, stamped.ec, chains[tsa_id(stamped.ec.url)])
    assert result.returncode != 0


# -- outages: pending, then `prov timestamp` -----------------------------------------------------

OUTAGES: dict[str, tuple[dict[str, Any], str]] = {
    "down": ({}, "unreachable"),
    "http-500": ({"http_status": 500}, "expected HTTP 200, found 500"),
    "garbage": ({"garbage": True}, "expected a DER TimeStampResp"),
    "slow": ({"delay": 3}, "no answer within 1 s"),
}


@pytest.mark.parametrize("mode", list(OUTAGES))
def test_outage_leaves_stamp_pending_until_prov_timestamp(
    mode: str, fresh: Env, site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    options, error = OUTAGES[mode]
    with LocalTSA() as good:
        bad = LocalTSA(key="rsa", **options)
        if mode == "down":  # nothing listens there yet; the TSA comes up on it later
            port = free_port()
            url = f"http://127.0.0.1:{port}/tsa"
        else:
            url = bad.start().url
        try:
            proc = fresh.snapshot(site, good.url, url, extra=("--tsa-timeout", "1"))
            assert proc.returncode == EXIT_OK, proc.stderr
            assert partial_leftovers(fresh.case) == []
            entries = fresh.entries()
            (capture,) = by_action(entries, "capture")
            seal = capture["subjects"][0]["path"]
            assert (fresh.case / seal).is_file()
            (pending,) = by_action(entries, "timestamp-pending")
            details = pending["details"]
            assert (details["tsa"], details["tsaId"], details["stamped"]) == (
                url, tsa_id(url), seal)
            assert error in details["error"], details["error"]
            assert [s["path"] for s in pending["subjects"]] == [seal]
            folder = fresh.case / seal.rsplit("/", 1)[0]
            assert not (folder / f"seal.{tsa_id(url)}.tsr").exists()
            assert (folder / f"seal.{tsa_id(good.url)}.tsr").is_file()
            assert [e["details"]["tsaId"] for e in by_action(entries, "timestamp-added")] == [
                tsa_id(good.url)]

            roots = fresh.roots(good, bad)
            code, report = fresh.verify(*roots)
            assert code == EXIT_OK, report
            (warning,) = findings(report, "timestamp.pending")
            assert warning["status"] == "warn" and warning["subject"] == seal
            assert url in warning["message"] and "pending for" in warning["message"]
            assert "prov timestamp" in warning["message"]

            # the TSA is back, at the same URL
            if mode == "down":
                monkeypatch.setattr(tsa_module, "ThreadingHTTPServer",
                                    lambda _addr, handler: ThreadingHTTPServer(
                                        ("127.0.0.1", port), handler))
                bad.start()
                assert bad.url == url
            else:
                bad.behaviour = Behaviour()
            proc = fresh.prov("timestamp", "--case", str(fresh.case), "--tsa", url,
                              "--tsa-timeout", "5")
            assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr
            assert f"stamped {seal} by {url}" in proc.stdout
            added = [e for e in by_action(fresh.entries(), "timestamp-added")
                     if e["details"]["tsaId"] == tsa_id(url)]
            assert len(added) == 1 and added[0]["details"]["stamped"] == seal
            assert (folder / f"seal.{tsa_id(url)}.tsr").is_file()

            code, report = fresh.verify(*roots)
            assert code == EXIT_OK, report
            assert findings(report, "timestamp.pending") == []
            assert f"{seal.rsplit('/', 1)[0]}/seal.{tsa_id(url)}.tsr" in subjects(
                report, "timestamp", "pass")
        finally:
            bad.stop()


def test_failed_tsa_is_not_asked_again_in_the_run(fresh: Env, site: str) -> None:
    with LocalTSA() as fast, LocalTSA(delay=2) as slow, LocalTSA(http_status=500) as broken:
        started = time.monotonic()
        proc = fresh.snapshot(site, fast.url, slow.url, broken.url,
                              extra=("--tsa-timeout", "1"))
        elapsed = time.monotonic() - started
        assert proc.returncode == EXIT_OK, proc.stderr
        # the seal asked all three; the checkpoint after it asked only the one that answered
        assert len(slow.requests) == 1
        assert len(broken.requests) == 1
        assert len(fast.requests) == 2
    assert elapsed < 8, f"snapshot took {elapsed:.1f} s"
    entries = fresh.entries()
    assert sorted(e["details"]["tsa"] for e in by_action(entries, "timestamp-pending")) == sorted(
        [slow.url, broken.url])
    tokens = sorted(p.name for p in (fresh.case / "custody/checkpoints").glob("*/*.tsr"))
    assert tokens == [f"{len(entries):020d}.{tsa_id(fast.url)}.tsr"]


def test_tsas_are_asked_concurrently(fresh: Env, site: str) -> None:
    started = time.monotonic()
    assert fresh.snapshot(site, "none").returncode == EXIT_OK
    baseline = time.monotonic() - started
    with LocalTSA(delay=2) as one, LocalTSA(key="rsa", delay=2) as two:
        started = time.monotonic()
        proc = fresh.snapshot(site, one.url, two.url)
        elapsed = time.monotonic() - started
        assert proc.returncode == EXIT_OK, proc.stderr
        assert (len(one.requests), len(two.requests)) == (2, 2)
    assert len(by_action(fresh.entries(), "timestamp-added")) == 2
    # two rounds (seal, checkpoint) of 2 s each; asked one after the other it would be 8 s
    assert elapsed >= 4
    assert elapsed < baseline + 6.5, f"{elapsed:.1f} s, without TSAs {baseline:.1f} s"


def test_prov_timestamp_asks_a_failing_tsa_once(fresh: Env, site: str) -> None:
    with LocalTSA(http_status=500) as broken:
        for _ in range(2):
            proc = fresh.snapshot(site, broken.url, extra=("--tsa-timeout", "1"))
            assert proc.returncode == EXIT_OK, proc.stderr
        assert len(by_action(fresh.entries(), "timestamp-pending")) == 2
        before = len(broken.requests)
        proc = fresh.prov("timestamp", "--case", str(fresh.case), "--tsa", broken.url,
                          "--tsa-timeout", "1")
        assert proc.returncode == EXIT_CAPTURE_FAILED, proc.stdout + proc.stderr
        assert proc.stdout.count("still pending") == 2
        assert len(broken.requests) - before == 1


def test_malformed_tsa_url_is_not_a_crash(fresh: Env, site: str) -> None:
    proc = fresh.snapshot(site, "http://[::1")
    assert proc.returncode == 6, proc.stderr
    assert "not an http(s) TSA URL" in proc.stderr and "Traceback" not in proc.stderr
    assert partial_leftovers(fresh.case) == []


# -- tampering with tokens -----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["delete-seal-token", "flip-seal-token", "flip-cert-in-seal-token",
                                 "delete-bound-checkpoint-token", "flip-latest-checkpoint-token"])
def test_missing_or_changed_token_fails(
    how: str, stamped: Stamped, tmp_path: Path, site: str
) -> None:
    env = clone(stamped.env.root, tmp_path)
    roots = env.roots(stamped.ec, stamped.rsa)
    if "seal-token" in how:
        target = stamped.seal_token(stamped.ec)
    else:
        target = stamped.checkpoint_token(stamped.ec)
    if how == "delete-bound-checkpoint-token":  # a later entry's prev names the token
        assert env.snapshot(site, "none").returncode == EXIT_OK
    path = env.case / target
    if how.startswith("delete"):
        path.unlink()
    else:
        data = bytearray(path.read_bytes())
        if how == "flip-cert-in-seal-token":
            # the certificate the token carries is not signed by the TSA, and the case's
            # certs/ still holds the original: only the logged digest can catch this change
            cert = stamped.ec.tsa_cert.public_bytes(Encoding.DER)
            at = bytes(data).find(cert)
            assert at > 0
            data[at + len(cert) - 1] ^= 0x01  # a byte of the certificate's signature
        elif "checkpoint" in how:
            data[-1] ^= 0x01  # a byte of the TSA's signature
        else:
            # a digit of the signed genTime (a GeneralizedTime, tag 0x18, in TSTInfo): a byte
            # chosen by position could land in the certificates the token carries, which
            # no signature covers
            gen_time = re.search(rb"\x18[\x0f-\x17]20[0-9]{12}", bytes(data))
            assert gen_time is not None
            data[gen_time.start() + 15] ^= 0x01
        path.write_bytes(bytes(data))
    code, report = env.verify(*roots)
    assert code == EXIT_INTEGRITY
    failed = [f for f in report["findings"] if f["status"] == "fail"]
    assert {f["subject"] for f in failed} == {target}, failed
    assert findings(report, "timestamp.pending") == []  # never softened into a warning
    if how != "flip-cert-in-seal-token":
        assert target not in subjects(report, "timestamp", "pass")


def _entry(seq: int, at: datetime, action: str, seal: str, details: dict[str, Any]) -> Entry:
    return Entry(seq=seq, time=timefmt.format_time(at), actor="ed25519:" + "0" * 64,
                 action=action, subjects=(Subject(seal, bytes(32)),), prev=Prev(0, bytes(32)),
                 details=details)


def test_stamp_judge_requires_a_token_or_a_pending_entry(tmp_path: Path) -> None:
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    seal = "captures/2026/01/02/01a2079f-7997-7526-b35b-9344ca3bfe19/seal.dsse.json"
    lost, late, recent = "a" * 16, "b" * 16, "c" * 16
    report = Report(str(tmp_path), "case")
    judge = StampJudge(tmp_path, report, TsaRoots(()), now=lambda: now)
    judge.capture_entry(_entry(1, now - timedelta(hours=3), "capture", seal,
                               {"tsa": [lost, late, recent]}), seal)
    for seq, tid, age in ((2, late, timedelta(hours=3)), (3, recent, timedelta(minutes=45))):
        judge.pending_entry(_entry(seq, now - age, "timestamp-pending", seal, {
            "tsa": f"http://tsa-{tid[0]}.test/", "tsaId": tid, "stamped": seal,
            "error": "TSA down"}))
    judge.finish()
    (missing,) = report.findings_for("timestamp.missing")
    assert (missing.status, missing.subject) == ("fail", seal)
    assert lost in missing.message and "capture entry 1" in missing.message
    pending = sorted(report.findings_for("timestamp.pending"), key=lambda f: f.message)
    assert [f.status for f in pending] == ["warn", "warn"]
    assert "http://tsa-b.test/" in pending[0].message and "3.0 h" in pending[0].message
    assert "http://tsa-c.test/" in pending[1].message and "45 min" in pending[1].message
    assert all("TSA down" in f.message for f in pending)
    assert report.exit_code == EXIT_INTEGRITY

    # pending alone is a warning, not a failure
    report = Report(str(tmp_path), "case")
    judge = StampJudge(tmp_path, report, TsaRoots(()), now=lambda: now)
    judge.capture_entry(_entry(1, now, "capture", seal, {"tsa": [late]}), seal)
    judge.pending_entry(_entry(2, now, "timestamp-pending", seal, {
        "tsa": "http://tsa-b.test/", "tsaId": late, "stamped": seal, "error": "down"}))
    judge.finish()
    assert report.findings_for("timestamp.missing") == []
    assert report.exit_code == EXIT_OK


# -- back-dating -----------------------------------------------------------------------------------


def test_token_older_than_the_capture_fails(fresh: Env, site: str) -> None:
    then = datetime.now(UTC) - timedelta(hours=1)
    with LocalTSA(gen_time=then) as liar:
        proc = fresh.snapshot(site, liar.url)
        assert proc.returncode == EXIT_OK, proc.stderr
    entries = fresh.entries()
    seal = by_action(entries, "capture")[0]["subjects"][0]["path"]
    seal_token = seal.rsplit("/", 1)[0] + f"/seal.{tsa_id(liar.url)}.tsr"
    checkpoint_token = checkpoint_rel(len(entries), f"{tsa_id(liar.url)}.tsr")
    code, report = fresh.verify(*fresh.roots(liar))
    assert code == EXIT_INTEGRITY
    assert subjects(report, "timestamp.backdated", "fail") == {seal_token, checkpoint_token}
    (finding,) = [f for f in findings(report, "timestamp.backdated") if f["subject"] == seal_token]
    assert finding["found"] == timefmt.format_time(then)
    assert finding["expected"].startswith(">= ")


def test_checkpoint_token_older_than_its_entries_fails(fresh: Env, site: str) -> None:
    with LocalTSA() as honest:
        assert fresh.snapshot(site, honest.url).returncode == EXIT_OK
    size = len(fresh.entries())
    with LocalTSA(gen_time=datetime.now(UTC) - timedelta(hours=1)) as liar:
        proc = fresh.prov("timestamp", "--case", str(fresh.case), "--tsa", liar.url)
        assert proc.returncode == EXIT_OK, proc.stderr
        assert f"checkpoint {size} stamped by {liar.url}" in proc.stdout
    code, report = fresh.verify(*fresh.roots(honest, liar))
    assert code == EXIT_INTEGRITY
    liar_token = checkpoint_rel(size, f"{tsa_id(liar.url)}.tsr")
    assert subjects(report, "timestamp.backdated", "fail") == {liar_token}
    assert [f["check"] for f in report["findings"] if f["status"] == "fail"] == [
        "timestamp.backdated"]
    passed = subjects(report, "timestamp", "pass")
    assert checkpoint_rel(size, f"{tsa_id(honest.url)}.tsr") in passed
    assert liar_token in passed  # the token itself is sound; its time contradicts the log


# -- whose time counts: tokens dated in the future, unbound, or under a root nobody chose ------


def _seal_and_checkpoint_tokens(env: Env, tsa: LocalTSA) -> tuple[str, str]:
    entries = env.entries()
    seal = by_action(entries, "capture")[-1]["subjects"][0]["path"]
    return (seal.rsplit("/", 1)[0] + f"/seal.{tsa_id(tsa.url)}.tsr",
            checkpoint_rel(len(entries), f"{tsa_id(tsa.url)}.tsr"))


def test_token_dated_after_the_moment_of_verification_fails(fresh: Env, site: str) -> None:
    later = datetime.now(UTC) + timedelta(days=1)
    with LocalTSA(gen_time=later) as ahead:
        proc = fresh.snapshot(site, ahead.url)
        assert proc.returncode == EXIT_OK, proc.stderr
    tokens = set(_seal_and_checkpoint_tokens(fresh, ahead))
    for roots in (fresh.roots(ahead), []):  # whoever vouches for it, no true token can be
        code, report = fresh.verify(*roots)
        assert code == EXIT_INTEGRITY
        assert subjects(report, "timestamp.future", "fail") == tokens
        assert {f["found"] for f in findings(report, "timestamp.future")} == {
            timefmt.format_time(later)}
        assert "after the moment of verification" in findings(report, "timestamp.future")[0][
            "message"]
        assert findings(report, "timestamp", "pass") == []


def test_back_dated_token_under_a_root_the_verifier_did_not_choose_is_only_untrusted(
        fresh: Env, site: str) -> None:
    """The same tokens fail as back-dated under a trusted root (test above): without it,
    nobody vouches for their time, so it is no evidence against the operator."""
    then = datetime.now(UTC) - timedelta(hours=1)
    with LocalTSA(gen_time=then, embed_root=True) as liar:  # its root stored in the case
        assert fresh.snapshot(site, liar.url).returncode == EXIT_OK
    code, report = fresh.verify()
    assert code == EXIT_OK, report
    assert findings(report, "timestamp.backdated") == []
    assert findings(report, "timestamp.clock") == []
    assert subjects(report, "timestamp.root", "warn") == set(
        _seal_and_checkpoint_tokens(fresh, liar))
    code, report = fresh.verify(*fresh.roots(liar))
    assert code == EXIT_INTEGRITY
    assert subjects(report, "timestamp.backdated", "fail") == set(
        _seal_and_checkpoint_tokens(fresh, liar))


def test_token_that_no_entry_binds_is_an_added_file(fresh: Env, site: str) -> None:
    """An intruder drops tokens beside checkpoints: a genuine one from a TSA the verifier
    trusts (dated now) and a back-dated one from its own TSA. Beside a checkpoint whose
    tokens the next entry bound, each is an added file; beside the latest checkpoint (bound
    by no entry yet) the intruder's own root makes it untrusted, never back-dating."""
    with LocalTSA() as honest:
        assert fresh.snapshot(site, honest.url).returncode == EXIT_OK
        first = len(fresh.entries())
        assert fresh.snapshot(site, honest.url).returncode == EXIT_OK
    latest = len(fresh.entries())
    planted: dict[str, str] = {}
    then = datetime.now(UTC) - timedelta(hours=1)
    with LocalTSA() as public, LocalTSA(gen_time=then, embed_root=True) as own:
        for size in (first, latest):
            note = (fresh.case / checkpoint_rel(size)).read_bytes()
            for tsa in (public, own):
                rel = checkpoint_rel(size, f"{tsa_id(tsa.url)}.tsr")
                (fresh.case / rel).write_bytes(request_stamp(note, tsa.url).response_der)
                planted[rel] = "public" if tsa is public else "own"
        code, report = fresh.verify(*fresh.roots(honest, public))
    assert code == EXIT_INTEGRITY
    assert findings(report, "timestamp.backdated") == []
    unbound = {rel for rel in planted if f"/{first:020d}." in rel}
    assert subjects(report, "timestamp.unlogged", "fail") == unbound
    assert all("no entry binds" in f["message"] for f in findings(report, "timestamp.unlogged"))
    fails = {f["check"] for f in report["findings"] if f["status"] == "fail"}
    assert fails == {"timestamp.unlogged"}
    by_subject = {f["subject"]: f for f in report["findings"] if f["subject"] in planted}
    own_latest = checkpoint_rel(latest, f"{tsa_id(own.url)}.tsr")
    assert by_subject[own_latest]["check"] == "timestamp.root"
    assert by_subject[own_latest]["status"] == "warn"
    assert by_subject[checkpoint_rel(latest, f"{tsa_id(public.url)}.tsr")]["status"] == "pass"
    # the tokens the log binds still pass
    assert checkpoint_rel(first, f"{tsa_id(honest.url)}.tsr") in subjects(
        report, "timestamp", "pass")


def test_seal_token_that_no_entry_binds_is_an_added_file(fresh: Env, site: str) -> None:
    with LocalTSA() as honest:
        assert fresh.snapshot(site, honest.url).returncode == EXIT_OK
        seal_token, _ = _seal_and_checkpoint_tokens(fresh, honest)
    with LocalTSA() as other:
        seal = fresh.case / seal_token.rsplit("/", 1)[0] / "seal.dsse.json"
        rel = seal_token.rsplit("/", 1)[0] + f"/seal.{tsa_id(other.url)}.tsr"
        (fresh.case / rel).write_bytes(request_stamp(seal.read_bytes(), other.url).response_der)
        code, report = fresh.verify(*fresh.roots(honest, other))
    assert code == EXIT_INTEGRITY
    assert subjects(report, "timestamp.unlogged", "fail") == {rel}
    assert rel not in subjects(report, "timestamp", "pass")


# -- hostile TSAs at stamping time ---------------------------------------------------------------

HOSTILE: dict[str, tuple[dict[str, Any], str]] = {
    "wrong-imprint": ({"wrong_imprint": True}, "message imprint: expected sha256:"),
    "wrong-nonce": ({"wrong_nonce": True}, "nonce: expected"),
    "bad-signature": ({"bad_signature": True}, "CMS signature: does not verify"),
    "non-critical-eku": ({"eku": "non-critical"},
                         "expected a critical extendedKeyUsage, found non-critical"),
    "expired-before-genTime": (expired_before_gen_time(), "expected valid at genTime"),
}


def test_hostile_tokens_are_refused_and_left_pending(fresh: Env, site: str) -> None:
    with TsaFactory() as make:
        honest = make(key="rsa")
        hostile = {name: make(**options) for name, (options, _) in HOSTILE.items()}
        proc = fresh.snapshot(site, honest.url, *(t.url for t in hostile.values()))
        assert proc.returncode == EXIT_OK, proc.stderr
        assert all(len(t.requests) == 1 for t in hostile.values())  # not asked for the checkpoint
        assert len(honest.requests) == 2
        roots = fresh.roots(honest, *hostile.values())
    assert partial_leftovers(fresh.case) == []
    entries = fresh.entries()
    (capture,) = by_action(entries, "capture")
    seal = capture["subjects"][0]["path"]
    folder = fresh.case / seal.rsplit("/", 1)[0]
    assert (folder / "seal.dsse.json").is_file()
    pending = {e["details"]["tsaId"]: e["details"] for e in by_action(entries, "timestamp-pending")}
    for name, tsa in hostile.items():
        tid = tsa_id(tsa.url)
        assert tid in pending, name
        assert HOSTILE[name][1] in pending[tid]["error"], (name, pending[tid]["error"])
        assert not (folder / f"seal.{tid}.tsr").exists(), name
        assert list((fresh.case / "custody/checkpoints").glob(f"*/*.{tid}.tsr")) == [], name
    assert [e["details"]["tsaId"] for e in by_action(entries, "timestamp-added")] == [
        tsa_id(honest.url)]
    code, report = fresh.verify(*roots)
    assert code == EXIT_OK, report
    assert len(findings(report, "timestamp.pending", "warn")) == len(HOSTILE)


# -- which TSAs: --tsa, else the user's config.toml and what the case's adds --------------------


def test_tsas_come_from_config_toml(fresh: Env, site: str) -> None:
    with LocalTSA() as users, LocalTSA() as cases, LocalTSA() as given:
        (fresh.home / "config.toml").write_text(f'tsa = ["{users.url}"]\n')
        assert fresh.snapshot(site).returncode == EXIT_OK
        (fresh.case / "config.toml").write_text(f'tsa = ["{cases.url}"]\n')
        assert fresh.snapshot(site).returncode == EXIT_OK
        assert fresh.snapshot(site, given.url).returncode == EXIT_OK
        proc = fresh.snapshot(site, "none")
        assert proc.returncode == EXIT_OK
        assert "NOT time-stamped: --tsa none, although your config.toml names 1 TSA" in (
            proc.stderr)
    stamped_by = [e["details"]["tsa"] for e in by_action(fresh.entries(), "capture")]
    assert stamped_by == [[tsa_id(users.url)], [tsa_id(users.url), tsa_id(cases.url)],
                          [tsa_id(given.url)], []]


def test_a_case_config_cannot_remove_the_operators_tsa(fresh: Env, site: str) -> None:
    """Issue 14, point 6: ``tsa = []`` in CASE/config.toml (writable by anyone who can write
    the case) used to turn the operator's time-stamping off, silently."""
    with LocalTSA() as users:
        (fresh.home / "config.toml").write_text(f'tsa = ["{users.url}"]\n')
        (fresh.case / "config.toml").write_text("tsa = []\n")
        proc = fresh.snapshot(site)
        assert proc.returncode == EXIT_OK, proc.stderr
        assert "NOT time-stamped" not in proc.stderr
        assert len(users.requests) == 2  # the seal and the checkpoint
        roots = fresh.roots(users)
    (capture,) = by_action(fresh.entries(), "capture")
    assert capture["details"]["tsa"] == [tsa_id(users.url)]
    seal = capture["subjects"][0]["path"]
    code, report = fresh.verify(*roots)
    assert code == EXIT_OK, report
    assert f"{seal.rsplit('/', 1)[0]}/seal.{tsa_id(users.url)}.tsr" in subjects(
        report, "timestamp", "pass")


def test_a_seal_left_unstamped_by_the_operators_tsa_says_so(fresh: Env, site: str) -> None:
    """A configured TSA that gives no token: stderr and the summary say so; the exit code
    stays 0 (the stamp is logged as pending, README "Exit codes")."""
    with LocalTSA(http_status=500) as broken:
        (fresh.home / "config.toml").write_text(f'tsa = ["{broken.url}"]\n')
        proc = fresh.prov("snapshot", "--case", str(fresh.case), "--json", "--tsa-timeout",
                          "1", site + "/")
    assert proc.returncode == EXIT_OK, proc.stderr
    summary = json.loads(proc.stdout)
    assert [row["tsa"] for row in summary["unstamped"]] == [broken.url]
    assert "500" in summary["unstamped"][0]["error"]
    assert (f"capture {summary['captureId']} NOT time-stamped by {broken.url}" in proc.stderr)
    (pending,) = by_action(fresh.entries(), "timestamp-pending")
    assert pending["details"]["tsa"] == broken.url


def test_a_schedule_run_lists_the_seals_left_unstamped(fresh: Env, site: str) -> None:
    with LocalTSA(http_status=500) as broken:
        (fresh.home / "config.toml").write_text(f'tsa = ["{broken.url}"]\n')
        (fresh.case / "config.toml").write_text("tsa = []\n")  # cannot remove it
        sources = fresh.root / "sources.toml"
        sources.write_text(f'[[source]]\nurl = "{site}/"\n')
        proc = fresh.prov("schedule", "run", str(sources), "--case", str(fresh.case),
                          "--json", "--tsa-timeout", "1")
    assert proc.returncode == EXIT_OK, proc.stderr
    run = json.loads(proc.stdout)
    (capture,) = run["captures"]
    assert [(u["captureId"], u["tsa"]) for u in run["unstamped"]] == [(capture, broken.url)]
    assert f"capture {capture} NOT time-stamped by {broken.url}" in proc.stderr
    logged = json.loads((fresh.case / "state" / "runs.log").read_text().splitlines()[-1])
    assert logged["unstamped"] == run["unstamped"]
