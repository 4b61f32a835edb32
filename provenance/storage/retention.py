"""A case's retention in a bucket: S3 Object Lock, chosen at ``prov init`` and kept in
case.json (which the init entry signs).

``{"mode": "compliance"|"governance", "until": TIME}`` for one date for every object, or
``{"mode": ..., "days": N}`` for N days from each object's upload. In COMPLIANCE mode nobody,
the bucket's owner included, can delete an object version or shorten its retention before
the date; in GOVERNANCE mode a principal granted ``s3:BypassGovernanceRetention`` can, by
asking for the bypass.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from archive.errors import UsageError
from provenance.base import timefmt
from provenance.custody.case import CaseInfo

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
    # optional: boto3 (the s3 extra), needed only for a case in a bucket
    from provenance.storage.store import ObjectLock

    rule = info.retention
    if rule is None:
        return None
    mode = str(rule["mode"]).upper()
    if "until" in rule:
        return ObjectLock(mode, timefmt.parse_time(str(rule["until"])))
    return ObjectLock(mode, now + timedelta(days=int(rule["days"])))
