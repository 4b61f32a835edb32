"""Getting trusted timestamps for seals and checkpoints, and storing them (RFC 3161).

Every configured TSA is asked at once (threads), each within its timeout, so a capture waits
no longer than the slowest answer. A TSA that fails once is not asked again in the same run:
its stamps are logged as pending (``timestamp-pending``) and ``prov timestamp`` completes
them later. Tokens are stored as received (the whole TimeStampResp, ``.tsr``); the TSA's
chain is stored once per case under ``certs/<sha256 of the PEM file>.pem``.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from archive.errors import ConfigError, ProvError
from provenance.base import home, timefmt
from provenance.base.digests import sha256_file
from provenance.base.untrusted import read_named, read_regular
from provenance.custody import checkpoint as cp
from provenance.custody.case import Case, fsync_dir, write_durable
from provenance.custody.log import CustodyLog, NewEntry, file_subject
from provenance.signing.keys import SigningKey
from provenance.signing.statements import Subject
from provenance.timestamps.rfc3161 import (
    Stamp,
    chain_file_name,
    chain_pem,
    request_stamp,
    tsa_id,
)

DEFAULT_TIMEOUT = 10.0
MAX_CONFIG = 1 << 20  # a case's config.toml names a few TSAs


def _config_tsas(path: Path) -> list[str] | None:
    if not path.is_file():
        return None
    try:
        doc = tomllib.loads(read_named(path, MAX_CONFIG, error=ConfigError).decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    value = doc.get("tsa")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: tsa must be a list of URLs")
    return list(value)


def configured_tsas(case_root: Path | None, given: Sequence[str]) -> list[str]:
    """``--tsa`` URLs (``none``: none), else the user's ``tsa = [...]`` (the operator's
    policy, ``$PROV_HOME/config.toml``) followed by the TSAs the case's ``config.toml`` adds.

    The case's file is writable by anyone who can write the case: it may add TSAs, never
    remove the operator's (``tsa = []`` there changes nothing). Only the operator's own
    command line overrides the operator's config.
    """
    if given:
        return [check_tsa_url(u) for u in given if u != "none"]
    urls: list[str] = []
    for path in [home.config_path(), *([case_root / "config.toml"] if case_root else [])]:
        urls += [check_tsa_url(u, str(path)) for u in _config_tsas(path) or []]
    return list(dict.fromkeys(urls))


def operator_tsas() -> list[str]:
    """The TSAs of the operator's own config (``$PROV_HOME/config.toml``), unchecked; none
    when the file cannot be read (said elsewhere: this only adds a warning)."""
    try:
        return _config_tsas(home.config_path()) or []
    except ConfigError:
        return []


def check_tsa_url(url: str, source: str = "--tsa") -> str:
    """The URL if it is an http(s) URL with a host; ConfigError (exit 6) otherwise."""
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(f"{source}: not an http(s) TSA URL: {url!r}")
    return url


@dataclass(frozen=True)
class StampOutcome:
    url: str
    stamp: Stamp | None
    error: str | None
    tsa_id_override: str | None = None  # a token found on disk whose URL is unknown

    @property
    def tsa_id(self) -> str:
        return self.tsa_id_override or tsa_id(self.url)


class Stamper:
    """Stamps data with every TSA of a run; remembers which failed during the run."""

    def __init__(self, urls: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT,
                 now: Callable[[], datetime] = timefmt.utc_now) -> None:
        self.urls = list(dict.fromkeys(urls))
        self.timeout = timeout
        self.now = now
        self.failed: dict[str, str] = {}

    def subset(self, urls: Sequence[str]) -> Stamper:
        """A stamper for some of this run's TSAs, sharing its memory of which ones failed."""
        part = Stamper(urls, timeout=self.timeout, now=self.now)
        part.failed = self.failed
        return part

    def stamp(self, data: bytes) -> list[StampOutcome]:
        if not self.urls:
            return []
        with ThreadPoolExecutor(max_workers=len(self.urls)) as pool:
            return list(pool.map(lambda url: self._one(url, data), self.urls))

    def _one(self, url: str, data: bytes) -> StampOutcome:
        if url in self.failed:
            return StampOutcome(url, None, f"{self.failed[url]} (not retried in this run)")
        try:
            return StampOutcome(url, request_stamp(data, url, timeout=self.timeout,
                                                   now=self.now), None)
        except ProvError as exc:
            self.failed[url] = str(exc)
            return StampOutcome(url, None, str(exc))


def store_chain(case: Case, chain_der: Sequence[bytes]) -> Path:
    """The TSA chain as one PEM file named by its sha256, written once per case."""
    pem = chain_pem(chain_der)
    path = case.certs_dir / chain_file_name(chain_der)
    case.certs_dir.mkdir(exist_ok=True)
    if not path.exists():
        write_durable(path, pem, exclusive=False)
    return path


def write_token(path: Path, outcome: StampOutcome) -> None:
    assert outcome.stamp is not None
    write_durable(path, outcome.stamp.response_der, exclusive=False)


def token_entries(case: Case, stamped: Path, outcomes: Sequence[StampOutcome],
                  token_path: Callable[[str], Path], *, staged: bool = False) -> list[NewEntry]:
    """Store each token (``token_path(tsa_id)``) and chain; the entries that log them.

    With ``staged`` a new token is written as ``<name>.partial``: the caller renames it into
    place once the entries are logged, so a crash in between leaves a staged token that
    verify reports as incomplete, never a token the log does not name.
    """
    entries = []
    stamped_rel = case.relative(stamped)
    for outcome in outcomes:
        base = {"tsa": outcome.url, "tsaId": outcome.tsa_id, "stamped": stamped_rel}
        if outcome.stamp is None:
            entries.append(NewEntry("timestamp-pending", (file_subject(case, stamped),),
                                    {**base, "error": outcome.error or "unknown"}))
            continue
        path = token_path(outcome.tsa_id)
        if not path.exists():
            write_token(staged_path(path) if staged else path, outcome)
        subjects = [Subject(case.relative(path),
                            hashlib.sha256(outcome.stamp.response_der).digest())]
        if outcome.stamp.chain_der:
            subjects.append(file_subject(case, store_chain(case, outcome.stamp.chain_der)))
        entries.append(NewEntry("timestamp-added", tuple(subjects), {
            **base,
            "genTime": timefmt.format_time(outcome.stamp.gen_time),
            "clockOffsetSeconds": round(outcome.stamp.clock_offset_seconds, 6),
        }))
    return entries


def staged_path(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def stamp_checkpoint(case: Case, stamper: Stamper, checkpoint: Path) -> list[StampOutcome]:
    """Stamp a checkpoint file; tokens go beside it (bound by the next entry's ``prev``)."""
    outcomes = stamper.stamp(read_regular(checkpoint, cp.MAX_NOTE, what=case.relative(checkpoint)))
    for outcome in outcomes:
        if outcome.stamp is not None:
            write_token(checkpoint.with_name(f"{checkpoint.stem}.{outcome.tsa_id}.tsr"), outcome)
            store_chain(case, outcome.stamp.chain_der)
    return outcomes


def save_seal_tokens(case: Case, folder: Path, outcomes: Sequence[StampOutcome]) -> None:
    for outcome in outcomes:
        if outcome.stamp is not None:
            write_token(folder / f"seal.{outcome.tsa_id}.tsr", outcome)
            store_chain(case, outcome.stamp.chain_der)


def checkpoint_stamper(case: Case, stamper: Stamper | None) -> Callable[[Path], object] | None:
    """The ``on_checkpoint`` hook for ``CustodyLog`` that stamps each new checkpoint."""
    if stamper is None or not stamper.urls:
        return None
    return lambda path: stamp_checkpoint(case, stamper, path)


def append_entries(case: Case, stamper: Stamper | None, entries: Sequence[NewEntry],
                   key: SigningKey, at: datetime) -> cp.Checkpoint:
    """Append entries (caller holds the lock); stamp the new checkpoint if TSAs are set."""
    return CustodyLog(case, checkpoint_stamper(case, stamper)).append(entries, key, at)


def unstage_tokens(case: Case, entries: Iterable[NewEntry]) -> list[str]:
    """Move staged tokens (``.partial``) that logged entries name into place."""
    done = []
    for entry in entries:
        if entry.action != "timestamp-added" or not entry.subjects:
            continue
        final = case.root / entry.subjects[0].name
        staged = staged_path(final)
        if staged.is_file() and not final.exists() and sha256_file(staged) == entry.subjects[
                0].sha256:
            os.replace(staged, final)
            fsync_dir(final.parent)
            done.append(f"moved staged token {entry.subjects[0].name} into place")
    return done


def seal_token_path(seal: Path, tsa: str) -> Path:
    """Where the token of ``tsa`` over the seal at ``seal`` lives: ``seal.<tsa id>.tsr``."""
    return seal.with_name(f"seal.{tsa}.tsr")
