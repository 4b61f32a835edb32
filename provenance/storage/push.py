"""Pushing a mirror's new evidence to its bucket, in the order that keeps the bucket readable.

Order (the design's "Object storage"): a capture's files first, streamed, its seal last; then
each new log line as its own entry object with ``If-None-Match: *``; then checkpoints and their
tokens. Every evidence object carries the case's Object Lock. A bucket read at any moment is
thus a case that verify reads as complete or as "in progress", never as tampered: an entry is
never visible before what it names, a seal never before the files it seals.

A writer that finds an entry's sequence number taken lost a race (its lease expired, or
another machine ignored it): it cuts its unpushed entries from the mirror, pulls the winner's,
signs its own again with the next sequence numbers and the new ``prev``, and retries.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from archive.errors import IntegrityError, LockedError, ProvError
from provenance.base import timefmt
from provenance.base.untrusted import read_regular
from provenance.custody import checkpoint as cp
from provenance.custody.case import SEAL_NAME, write_durable
from provenance.custody.log import (
    CustodyLog,
    NewEntry,
    shard,
    shard_names,
)
from provenance.custody.logfile import iter_lines
from provenance.errors import OtherBytes
from provenance.signing.dsse import parse_envelope
from provenance.signing.statements import Entry
from provenance.storage.layout import CHECKPOINTS, entry_rel
from provenance.storage.pull import judge, list_new_entries, pull
from provenance.storage.retention import object_lock_for
from provenance.storage.sync import (
    KEYS,
    BucketCase,
    advance_floor,
    checkpoint_size,
    drop_unpushed,
    load_sync,
    log_size,
    save_sync,
)
from provenance.storage.transfer import upload_many, upload_one

if TYPE_CHECKING:
    from provenance.signing.keys import SigningKey
    from provenance.storage.store import ObjectLock

MAX_RACES = 20


def push(case: BucketCase) -> None:
    """Push every entry the mirror has beyond what the bucket has, and what they name."""
    # optional: boto3 (the s3 extra), needed only for a case in a bucket
    from provenance.storage.store import PreconditionFailed

    object_lock = object_lock_for(case.info, timefmt.utc_now())
    for _ in range(MAX_RACES):
        sync = load_sync(case)
        have = log_size(case)
        # what the bucket confirmed to this process (pull), never the sync file alone
        pushed = min(sync["pushed"] if case.confirmed is None else case.confirmed, have)
        if have > pushed:
            if list_new_entries(case, pushed):
                rebuild(case, pushed)
                continue
            lines = list(iter_lines(case.log_path))[pushed:]
            upload_named(case, [_entry(line) for line in lines], object_lock)
            try:
                for offset, line in enumerate(lines):
                    case.bucket.put_bytes(entry_rel(pushed + offset), line + b"\n", object_lock,
                                          if_none_match=True)
                    sync["pushed"] = case.confirmed = pushed + offset + 1
                    save_sync(case, sync)
            except PreconditionFailed:
                rebuild(case, sync["pushed"])
                continue
        push_checkpoints(case, sync, object_lock)
        return
    raise LockedError(f"{case.url}: lost the race for the next log entry {MAX_RACES} times",
                      hint="too many writers at once; run the command again")


def _entry(line: bytes) -> Entry:
    return Entry.parse(parse_envelope(line, what="mirror entry").payload, what="mirror entry")


def rebuild(case: BucketCase, accepted: int) -> None:
    """Sign our unpushed entries again after the ones another writer got in first."""
    ours = [_entry(line) for line in drop_unpushed(case, accepted)]
    if any(entry.action == "init" for entry in ours):
        raise IntegrityError(f"{case.url}: the bucket already holds entries where this "
                             "mirror's init entry would go; a case is never founded twice",
                             hint=f"run `prov verify {case.url}`")
    sync = load_sync(case)
    sync["pushed"] = case.confirmed = accepted
    save_sync(case, sync)
    pull(case)
    group: list[Entry] = []
    for entry in [*ours, None]:
        if group and (entry is None or (entry.actor, entry.time) != (group[0].actor,
                                                                     group[0].time)):
            CustodyLog(case).append([NewEntry(e.action, e.subjects, e.details) for e in group],
                                    signing_key_for(group[0].actor),
                                    timefmt.parse_time(group[0].time))
            group = []
        if entry is not None:
            group.append(entry)


def upload_named(case: BucketCase, entries: Sequence[Entry],
                 object_lock: ObjectLock | None) -> None:
    """Upload what the entries name (whole capture folders for captures) and new keys:
    everything else first, seals last."""
    files: set[str] = set()
    for entry in entries:
        for subject in entry.subjects:
            files.add(subject.name)
            if entry.action == "capture" and subject.name.endswith("/" + SEAL_NAME):
                folder = case.root / subject.name.rsplit("/", 1)[0]
                files.update(f"{case.relative(folder)}/{n}" for n in os.listdir(folder)
                             if not n.endswith((".partial", ".tmp")))
    remote_keys = {rel for rel, _ in case.bucket.iter_keys("keys/")}
    files.update(f"keys/{n}" for n in os.listdir(case.keys_dir)
                 if f"keys/{n}" not in remote_keys and n.endswith(".pub"))
    seals = sorted(f for f in files if f.endswith("/" + SEAL_NAME))
    upload_many(case.bucket, case.root, sorted(files - set(seals)), object_lock)
    upload_many(case.bucket, case.root, seals, object_lock)


def push_checkpoints(case: BucketCase, sync: dict[str, Any],
                     object_lock: ObjectLock | None) -> None:
    """Checkpoints and tokens not yet in the bucket, in size order (only the shard folders
    from the floor's on are listed)."""
    known = set(sync["known"])
    names = []
    for folder in shard_names(case):
        if folder < shard(sync["floor"]):
            continue
        for name in os.listdir(case.checkpoints_dir / folder):
            size = checkpoint_size(name)
            if size is not None and size >= sync["floor"] and name not in known and \
                    shard(name) == folder and not name.endswith((".tmp", ".partial")):
                names.append(name)
    names.sort(key=lambda n: (n[:20], not n.endswith(".checkpoint"), n))
    for name in names:  # one at a time: a token never before its checkpoint
        rel = f"{CHECKPOINTS}/{shard(name)}/{name}"
        if not (case.root / rel).is_file():
            continue  # a token of ours dropped when another writer's checkpoint was taken
        try:
            upload_one(case.bucket, case.root / rel, rel, object_lock)
        except OtherBytes:
            settle_conflict(case, rel)
    advance_floor(sync, names)
    save_sync(case, sync)


def settle_conflict(case: BucketCase, rel: str) -> None:
    """The bucket holds another file of this name. Another writer's checkpoint of the same
    size is taken instead of ours only if it states the same size and root and a key the
    log trusts signed it (our tokens of that size then stamp bytes that are not kept, so they
    go); a token of ours whose name is taken is dropped, never bound. Anything else is
    tampering: ``IntegrityError``."""
    path = case.root / rel
    if rel.endswith(".tsr"):
        os.unlink(path)
        return
    size = int(rel.rsplit("/", 1)[1][:20])
    try:
        got = case.bucket.get_bytes(rel, cp.MAX_NOTE)  # larger: IntegrityError, not read
        data = got[0] if got else b""
        keys = judge(case).judge.trusted_after(size - 1).values()
        cp.verify_checkpoint(data, case.info.origin, keys, what=f"{case.url}/{rel}")
        mine = read_regular(path, cp.MAX_NOTE, what=rel)
        same = cp.split_note(data, what=rel)[0] == cp.split_note(mine, what=rel)[0]
    except ProvError as exc:
        raise IntegrityError(f"{case.url}/{rel}: the bucket holds another checkpoint of this "
                             f"size that fails: {exc}", hint=f"run `prov verify {case.url}`"
                             ) from None
    if not same:
        raise IntegrityError(f"{case.url}/{rel}: the bucket holds a checkpoint of this size "
                             "over another root (history forked)",
                             hint=f"run `prov verify {case.url}`")
    write_durable(path, data, exclusive=False)
    for other in os.listdir(path.parent):
        if other.startswith(f"{size:020d}.") and other.endswith(".tsr"):
            os.unlink(path.parent / other)


def signing_key_for(actor: str) -> SigningKey:
    key = KEYS.get(actor)
    if key is None:
        raise LockedError(f"another writer committed first and the entries signed by {actor} "
                          "must be signed again with the next sequence numbers, but that key "
                          "is not loaded in this process", hint="run the command again")
    return key


# -- moving files ------------------------------------------------------------------------------


