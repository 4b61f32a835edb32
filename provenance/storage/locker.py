"""The evidence locker's rules on a bucket: creating a case there and legal holds; its
retention is ``provenance.storage.retention``'s.

A legal hold has no date: it stops deletion until it is removed, whatever the retention says.
Once a retention date has passed the object is an ordinary object version again: it can be
deleted, and verify then reports it missing (a failure) as for any case.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from archive.errors import ConfigError, UsageError
from provenance.custody.case import Case
from provenance.custody.cases import create_case
from provenance.custody.log import CustodyLog, NewEntry
from provenance.custody.stamping import Stamper
from provenance.signing.keys import SigningKey
from provenance.storage.layout import bucket_for
from provenance.storage.lease import Lease
from provenance.storage.mirror import MirrorCase
from provenance.storage.push import push
from provenance.storage.sync import mirror_root


def init_bucket(url: str, title: str, key: SigningKey, now: datetime, stamper: Stamper | None,
                retention: dict[str, Any] | None) -> MirrorCase:
    """``prov init s3://BUCKET/PREFIX``: the case is made in a fresh mirror, then pushed."""
    bucket = bucket_for(url)
    if next(iter(bucket.iter_versions("")), None) is not None:  # delete markers count
        raise UsageError(f"{bucket.url}: already holds objects or object versions; a case "
                         "needs an empty prefix")
    if retention is not None and not bucket.object_lock_enabled():
        raise ConfigError(f"{bucket.url}: Object Lock is not enabled on the bucket, so the "
                          "retention asked for cannot be applied",
                          hint="create the bucket with Object Lock enabled "
                               "(aws s3api create-bucket --object-lock-enabled-for-bucket)")
    root = mirror_root(bucket.url)
    if root.exists():
        shutil.rmtree(root)
    local = create_case(root, title, key, now, stamper, retention)
    case = MirrorCase(root, local.info, local.raw_info, bucket)
    case.confirmed = 0  # the init entry is ours, not yet in the bucket: no pull before
    lease = Lease(bucket)
    lease.acquire()
    try:
        with case.local_lock():
            push(case)  # case.json, key, entry 0, checkpoint 1
    finally:
        lease.release()
    return case


def legal_hold(case: Case, on: bool, key: SigningKey, now: datetime) -> int:
    """Log the hold (a ``note`` entry), then set it on every version of every evidence
    object, that entry's included; return how many versions were set."""
    if not isinstance(case, MirrorCase):
        raise UsageError(f"{case.root}: a legal hold applies to a case in a bucket",
                         hint="pass --case s3://BUCKET/PREFIX")
    with case.lock():
        CustodyLog(case).append([NewEntry("note", (), {
            "kind": "legal-hold", "legalHold": "on" if on else "off"})], key, now)
    versions = [v for v in case.bucket.iter_versions()
                if not v.delete_marker and not v.rel.startswith("state/")]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda v: case.bucket.set_legal_hold(v.rel, v.version_id, on), versions))
    return len(versions)
