"""`prov timestamp`: stamping what is pending, as custody entries.

A TSA that did not answer during a command leaves a ``timestamp-pending`` entry (RFC 3161
request not made or not answered); later runs stamp those seals with the TSAs named, log the
tokens (``timestamp-added``, tokens staged as ``.partial`` until logged), and stamp the latest
checkpoint when no configured TSA has. One ``Stamper`` per run: a TSA that fails is asked once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from provenance.base.untrusted import read_regular
from provenance.custody.case import Case
from provenance.custody.log import (
    NewEntry,
    checkpoint_path,
    iter_log_entries,
    latest_checkpoint_size,
    token_paths,
)
from provenance.custody.stamping import (
    Stamper,
    append_entries,
    seal_token_path,
    stamp_checkpoint,
    token_entries,
    unstage_tokens,
)
from provenance.signing.dsse import MAX_ENVELOPE
from provenance.signing.keys import SigningKey
from provenance.timestamps.rfc3161 import tsa_id


def complete_timestamps(case: Case, key: SigningKey, stamper: Stamper,
                        now: Callable[[], datetime]) -> list[str]:
    """Stamp what is pending: seals with a ``timestamp-pending`` entry and no token since,
    and the latest checkpoint if it has no token from a configured TSA."""
    resolved: set[tuple[str, str]] = set()
    pending: list[tuple[tuple[str, str], str]] = []  # what the log leaves open, in log order
    for e in iter_log_entries(case):  # one pass, streamed
        key_ = (str(e.details.get("stamped")), str(e.details.get("tsaId")))
        if e.action == "timestamp-added":
            resolved.add(key_)
        elif e.action == "timestamp-pending":
            pending.append((key_, str(e.details.get("tsa"))))
    todo: dict[str, list[str]] = {}
    for key_, url in pending:
        if key_ not in resolved:
            todo.setdefault(key_[0], []).append(url)
    done: list[str] = []
    new: list[NewEntry] = []
    run = Stamper(sorted({u for urls in todo.values() for u in urls} | set(stamper.urls)),
                  timeout=stamper.timeout)  # one per run: a TSA that fails is asked once
    for stamped, urls in sorted(todo.items()):
        path = case.root / stamped
        retry = run.subset(urls)
        data = read_regular(path, MAX_ENVELOPE, what=stamped)  # a seal, or a smaller checkpoint
        outcomes = [o for o in retry.stamp(data) if o.stamp is not None]
        new += token_entries(case, path, outcomes, partial(seal_token_path, path), staged=True)
        done += [f"stamped {stamped} by {o.url}" for o in outcomes]
        done += [f"still pending: {stamped} by {u}" for u in urls
                 if u not in {o.url for o in outcomes}]
    stamper = run.subset(stamper.urls)
    with case.lock():
        if new:
            append_entries(case, stamper, new, key, now())
            unstage_tokens(case, new)
        elif stamper.urls:
            done += _stamp_latest_checkpoint(case, stamper)
    return done


def _stamp_latest_checkpoint(case: Case, stamper: Stamper) -> list[str]:
    size = latest_checkpoint_size(case)
    have = {p.name.split(".")[1] for p in token_paths(case, size)}
    missing = [u for u in stamper.urls if tsa_id(u) not in have]
    if not missing:
        return []
    outcomes = stamp_checkpoint(case, stamper.subset(missing), checkpoint_path(case, size))
    return [f"checkpoint {size} stamped by {o.url}" if o.stamp else
            f"checkpoint {size}: {o.error}" for o in outcomes]
