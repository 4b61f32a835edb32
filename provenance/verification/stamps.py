"""Judging a case's trusted timestamps (RFC 3161) as part of verify.

For every token the log names: the token verifies over the exact bytes it stamped, offline,
with the case's certificates as untrusted intermediates and roots chosen by the verifier
(``provenance.timestamps.tsatrust``); its genTime is not older than the capture it stamps, and no
entry a stamped checkpoint covers is dated after that checkpoint's genTime (that is how
back-dating shows). Every seal stamped by a TSA has either a token or a pending entry;
pending stamps are warnings with their age.

Threat: whoever writes the case can add tokens from any TSA, its own included. A token
dated after the moment of verification fails whatever its root; a time under a root the
verifier did not choose is reported untrusted and never used for a finding against the
operator (back-dating, clock); a token no entry binds is an added file (verify.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509

from archive.errors import ProvError
from provenance.base import timefmt
from provenance.base.report import Report
from provenance.base.untrusted import read_regular
from provenance.errors import FutureTokenError, UntrustedRootError
from provenance.signing.statements import Entry
from provenance.timestamps.rfc3161 import TokenCheck, verify_stamp
from provenance.timestamps.tsatrust import TsaRoots, iter_case_chains, load_case_certs

SKEW = timedelta(minutes=5)


@dataclass
class ChainLedger:
    """The certificate chains a target holds beside its tokens, and those its tokens carry.

    One account for a case's ``certs/``, a disclosure package's ``certs/``, a bag's
    ``tagmanifest.<tsa>.pem`` and a WACZ's ``prov/certs.<sha256>.pem``: a chain is known by
    ``rfc3161.chain_file_name`` (the sha256 of its PEM bytes, as prov writes it), which is what
    a verified token's ``chain_name`` gives. A well-formed chain that no verified token carries
    and no entry names was added, or left by an interrupted command: ``certs.unused``, a
    warning, since it can only add untrusted intermediates, never a root. Judged only when
    every token was read: a token that did not verify carries certificates nobody knows.
    """

    held: dict[str, str] = field(default_factory=dict)  # chain file name -> its place
    carried: set[str] = field(default_factory=set)
    unread: int = 0  # tokens whose certificates are not known (they did not verify)

    def hold(self, name: str, place: str) -> None:
        """A well-formed chain at ``place``, known as ``name`` (``rfc3161.pem_file_name``)."""
        self.held.setdefault(name, place)

    def carry_named(self, entry: Entry) -> None:
        """The chains a ``timestamp-added`` entry names beside its token (``certs/...``)."""
        self.carried.update(s.name.removeprefix("certs/") for s in entry.subjects[1:])

    def judge(self, report: Report, *, complete: bool, holder: str) -> None:
        """Report every chain held that nothing carries (``holder``: "the case", ...)."""
        if not complete or self.unread:
            return
        for name, place in sorted(self.held.items(), key=lambda item: item[1]):
            if name not in self.carried:
                report.add("warn", "certs.unused", place, f"certificate chain no time-stamp "
                           f"token in {holder} carries and no entry names: added, or left by "
                           "an interrupted command (used only as an untrusted intermediate)")


@dataclass
class StampJudge:
    root: Path
    report: Report
    roots: TsaRoots
    now: Callable[[], datetime] = timefmt.utc_now
    _certs: list[x509.Certificate] | None = None
    added: set[tuple[str, str]] = field(default_factory=set)  # (stamped path, tsa id)
    pending: dict[tuple[str, str], Entry] = field(default_factory=dict)
    expected: dict[tuple[str, str], int] = field(default_factory=dict)  # -> capture entry seq
    logged_tokens: set[str] = field(default_factory=set)
    chains: ChainLedger = field(default_factory=ChainLedger)  # certs/ against the tokens

    @property
    def certs(self) -> list[x509.Certificate]:
        if self._certs is None:
            self._certs = load_case_certs(self.root / "certs")
        return self._certs

    def check_chains(self) -> None:
        """Judge every file of ``certs/`` (and keep their certificates for the tokens): a
        chain whose name is not its sha256 was changed or added (``file.digest``); one that
        is not PEM or over its bound is ``certs.chain``."""
        self._certs = []
        for chain in iter_case_chains(self.root / "certs"):
            self._certs += chain.certs
            if chain.problem is None:
                self.chains.hold(chain.name, f"certs/{chain.name}")
            if chain.found is not None:
                self.report.add("fail", "file.digest", f"certs/{chain.name}",
                                f"certificate chain: {chain.problem}",
                                expected=f"sha256:{chain.name.removesuffix('.pem')}",
                                found=chain.found)
            elif chain.problem is not None:
                self.report.add("fail", "certs.chain", f"certs/{chain.name}", chain.problem)

    def token(self, token_rel: str, stamped: bytes, tsa: str) -> TokenCheck | None:
        """Verify one token and report it. Returns what it established: None if it failed or
        if its root is not one the verifier chose, for a time nobody vouches for can support
        no finding (back-dating) against the operator."""
        try:
            check = verify_stamp(_read(self.root / token_rel), stamped, roots=self.roots.roots,
                                 untrusted=self.certs, require_trusted=False, now=self.now)
        except FutureTokenError as exc:
            self.chains.unread += 1
            self.report.add("fail", "timestamp.future", token_rel,
                            f"token from {tsa} is dated after the moment of verification: no "
                            "true token can be", expected=f"<= {timefmt.format_time(exc.now)}",
                            found=timefmt.format_time(exc.gen_time))
            return None
        except UntrustedRootError as exc:
            self.chains.unread += 1
            self.report.add("warn", "timestamp.root", token_rel,
                            f"token from {tsa}: {exc}; its root {exc.root_fingerprint} is not "
                            "trusted by this verifier (--tsa-root, or `prov tsa trust ROOT.pem`)")
            return None
        except ProvError as exc:
            self.chains.unread += 1
            self.report.add("fail", "timestamp.token", token_rel, f"token from {tsa}: {exc}")
            return None
        self.chains.carried.add(check.chain_name)
        when = timefmt.format_time(check.gen_time)
        if check.trusted:
            self.report.add("pass", "timestamp", token_rel,
                            f"stamped {when} by {check.tsa_name}, root {check.root_fingerprint} "
                            "(trusted)")
        else:
            self.report.add("warn", "timestamp.root", token_rel,
                            f"stamped {when} by {check.tsa_name}, but its root "
                            f"{check.root_fingerprint} is not trusted by this verifier "
                            "(--tsa-root, or `prov tsa trust ROOT.pem`)")
        return check if check.trusted else None

    def capture_entry(self, entry: Entry, seal_rel: str) -> None:
        tsas = entry.details.get("tsa", []) or []
        if not tsas:
            self.report.add("info", "timestamp.none", seal_rel,
                            "no time-stamp authority was configured for this capture: its "
                            "time rests on the operator's clock and signature alone")
        for tsa in tsas:
            self.expected[(seal_rel, str(tsa))] = entry.seq

    def added_entry(self, entry: Entry, started_at: datetime | None) -> None:
        stamped = str(entry.details.get("stamped"))
        tsa = str(entry.details.get("tsa"))
        token_rel = entry.subjects[0].name if entry.subjects else ""
        self.logged_tokens.add(token_rel)
        self.carry_named(entry)
        self.added.add((stamped, str(entry.details.get("tsaId"))))
        try:
            data = _read(self.root / stamped)
        except ProvError as exc:
            self.report.add("fail", "timestamp.stamped", stamped, str(exc))
            return
        check = self.token(token_rel, data, tsa)
        if check is None:
            return
        if started_at is not None and check.gen_time < started_at - timedelta(seconds=1):
            self.report.add("fail", "timestamp.backdated", token_rel,
                            "token is older than the capture it stamps: the capture's times "
                            "are not true", expected=f">= {timefmt.format_time(started_at)}",
                            found=timefmt.format_time(check.gen_time))
        logged_at = timefmt.parse_time(entry.time)
        if logged_at < check.gen_time - SKEW:
            self.report.add("warn", "timestamp.clock", token_rel,
                            "entry dated before the token it logs: the operator's clock was "
                            "behind", expected=f">= {timefmt.format_time(check.gen_time)}",
                            found=entry.time)

    def pending_entry(self, entry: Entry) -> None:
        key = (str(entry.details.get("stamped")), str(entry.details.get("tsaId")))
        self.pending[key] = entry

    def checkpoint_token(self, token_rel: str, checkpoint: bytes, latest_entry: datetime | None,
                         size: int) -> None:
        check = self.token(token_rel, checkpoint, "checkpoint TSA")
        if check is None or latest_entry is None:
            return
        if latest_entry > check.gen_time + SKEW:
            self.report.add("fail", "timestamp.backdated", token_rel,
                            f"an entry among the first {size} is dated after the stamped "
                            "checkpoint that contains it", expected=f"<= "
                            f"{timefmt.format_time(check.gen_time)}",
                            found=timefmt.format_time(latest_entry))

    def carry_named(self, entry: Entry) -> None:
        """The chains a ``timestamp-added`` entry names beside its token (``certs/...``)."""
        self.chains.carry_named(entry)

    def check_carried(self, *, complete: bool, holder: str = "the case") -> None:
        """``certs/`` against the tokens (``ChainLedger``); ``complete``: none staged."""
        self.chains.judge(self.report, complete=complete, holder=holder)

    def finish(self) -> None:
        for (stamped, tsa), seq in sorted(self.expected.items()):
            if (stamped, tsa) in self.added:
                continue
            entry = self.pending.get((stamped, tsa))
            if entry is None:
                self.report.add("fail", "timestamp.missing", stamped,
                                f"stamped by TSA {tsa} (capture entry {seq}) but the log has "
                                "neither its token nor a pending entry")
                continue
            age = self.now() - timefmt.parse_time(entry.time)
            self.report.add("warn", "timestamp.pending", stamped,
                            f"timestamp by {entry.details.get('tsa')} pending for "
                            f"{_age(age)} ({entry.details.get('error')}); run `prov timestamp`")


def failed_check(exc: ProvError) -> str:
    """The finding for a token that did not verify: a token dated after the moment of
    verification is ``timestamp.future`` for every kind of target, the rest ``timestamp.token``."""
    return "timestamp.future" if isinstance(exc, FutureTokenError) else "timestamp.token"


def _age(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours * 60:.0f} min" if hours < 2 else f"{hours:.1f} h"


def _read(path: Path) -> bytes:
    return read_regular(path, 16 << 20, what=path.name)
