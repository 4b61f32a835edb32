"""The evidence locker's rules on a bucket: creating a case there, its retention, legal holds.

Retention is S3 Object Lock, chosen at ``prov init`` and kept in case.json (which the init
entry signs): ``{"mode": "compliance"|"governance", "until": TIME}`` for one date for every
object, or ``{"mode": ..., "days": N}`` for N days from each object's upload. In COMPLIANCE
mode nobody, the bucket's owner included, can delete an object version or shorten its
retention before the date; in GOVERNANCE mode a principal granted
``s3:BypassGovernanceRetention`` can, by asking for the bypass. Once the date has passed the
object is an ordinary object version again: it can be deleted, and verify then reports it
missing (a failure) as for any case. A legal hold has no date: it stops deletion until it
is removed, whatever the retention says.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from archive.errors import ConfigError, UsageError
from provenance.base import timefmt
from provenance.custody.case import Case, CaseInfo
from provenance.custody.log import CustodyLog, NewEntry
from provenance.custody.stamping import Stamper
from provenance.signing.keys import SigningKey
from provenance.storage.mirror import MirrorCase, bucket_for, mirror_root

if TYPE_CHECKING:
    from provenance.storage.store import ObjectLock

MODES = ("compliance", "governance")


def retention_rule(mode: str | None, until: str | None, days: int | None) -> dict[str, Any] | None:
    """case.json's ``retention`` from the command line's options (None: no lock required)."""
    if until is None and days is None:
        if mode is not None:
            raise UsageError("--lock-mode needs --retain-until DATE or --retain-days N")
        return None
    if until is not None and days is not None:
        raise UsageError("give --retain-until or --retain-days, not both")
    chosen = (mode or "compliance").lower()
    if chosen not in MODES:
        raise UsageError(f"--lock-mode must be compliance or governance, not {mode!r}")
    if days is not None:
        if days <= 0:
            raise UsageError("--retain-days must be positive")
        return {"mode": chosen, "days": days}
    assert until is not None
    try:
        moment = datetime.fromisoformat(until)
    except ValueError:
        raise UsageError(f"--retain-until {until!r}: expected a date (2031-12-31) or an "
                         "RFC 3339 time") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment <= timefmt.utc_now():
        raise UsageError(f"--retain-until {until}: in the past")
    return {"mode": chosen, "until": timefmt.format_time(moment)}


def object_lock_for(info: CaseInfo, now: datetime) -> ObjectLock | None:
    """The Object Lock every evidence object of this case is written with, if any."""
    from datetime import timedelta

    from provenance.storage.store import ObjectLock

    rule = info.retention
    if rule is None:
        return None
    mode = str(rule["mode"]).upper()
    if "until" in rule:
        return ObjectLock(mode, timefmt.parse_time(str(rule["until"])))
    return ObjectLock(mode, now + timedelta(days=int(rule["days"])))


def init_bucket(url: str, title: str, key: SigningKey, now: datetime, stamper: Stamper | None,
                retention: dict[str, Any] | None) -> MirrorCase:
    """``prov init s3://BUCKET/PREFIX``: the case is made in a fresh mirror, then pushed."""
    from provenance.custody.cases import create_case
    from provenance.storage.lease import Lease
    from provenance.storage.push import push

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
