"""What a case in a bucket holds: the object names prov writes, the names it refuses, and the
rule that evidence is written once (docs/SCALING.md, docs/SECURITY.md "Object storage").

Under ``s3://BUCKET/PREFIX/`` a case has the folder's layout, except that the log is one
object per entry, ``custody/entries/<seq:020d>.json``, and ``state/`` holds only the lease and
the read-only marker, outside retention. Threat: anyone with write access to the bucket; this
module names what a bucket may hold (``unknown_names``, ``folder_files``) and refuses evidence
keys that were replaced or hidden (``check_versions``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from archive.errors import IntegrityError
from provenance.base.ids import CAPTURE_DAY
from provenance.base.untrusted import MAX_NAME_PARTS, is_safe_name

if TYPE_CHECKING:
    from provenance.storage.store import Bucket

ENTRIES = "custody/entries"
CHECKPOINTS = "custody/checkpoints"
READ_ONLY_KEY = "state/read-only"
ENTRY_NAME = re.compile(rf"^{ENTRIES}/[0-9]{{20}}\.json$")
LOG_REL = "custody/log.jsonl"
LAYOUT = ("keys/", "certs/", "captures/", "custody/entries/", "custody/checkpoints/")
KEY_NAME = re.compile(r"^keys/[0-9a-f]{64}\.pub$")
CERT_NAME = re.compile(r"^certs/([0-9a-f]{64})\.pem$")
CKPT_FILE = re.compile(
    rf"^{CHECKPOINTS}/[0-9]{{17}}/([0-9]{{20}})\.(checkpoint|[0-9a-f]{{16}}\.tsr)$")
LAYOUT_FILES = (ENTRY_NAME, KEY_NAME, CERT_NAME,
                re.compile(rf"^{CHECKPOINTS}/[0-9]{{17}}/[0-9]{{20}}\.(checkpoint|[0-9a-f]{{16}}\."
                           r"(tsr|cosignature))$"),
                re.compile(rf"^{CAPTURE_DAY}/[^/]+/[^/]+$"))
NAMED_FOLDERS = ("keys/", "certs/", CHECKPOINTS + "/")  # every file name there is a pattern

_endpoint: list[str] = []


def set_endpoint(url: str | None) -> None:
    """``--endpoint-url`` for every bucket this process opens."""
    _endpoint[:] = [url] if url else []


def bucket_for(url: str) -> Bucket:
    # optional: boto3 (the s3 extra), needed only for a case in a bucket
    from provenance.storage.store import Bucket, S3Url

    return Bucket(S3Url.parse(url), _endpoint[0] if _endpoint else None)


def layout_file(rel: str) -> bool:
    """Whether ``rel`` is a file name the case layout has (not whether it is well placed,
    which verify judges): the one that wins when a key is both a file and a folder."""
    return rel == "case.json" or any(p.match(rel) for p in LAYOUT_FILES)


def unknown_names(current: list[str]) -> dict[str, str]:
    """Objects that are not read, and why: a name prov never writes, a name in the entry
    folder that is not an entry, the log file itself (a bucket keeps entries), a key outside
    the layout, and of a key that is both a file and a folder (``a`` beside ``a/b``: no disk
    holds both) the side the layout does not name as a file (``folder_files`` names the
    other side, which is read)."""
    names = set(current)
    folders = _folders(current)
    bad = {}
    for rel in current:
        parts = rel.split("/")
        above = ["/".join(parts[:i]) for i in range(1, len(parts))]
        if not is_safe_name(rel):
            bad[rel] = "object whose name prov never writes"
        elif rel in folders and not layout_file(rel):
            bad[rel] = "key that is both a file and a folder of other keys"
        elif any(p in names and layout_file(p) for p in above):
            bad[rel] = "key below another key, which is thus both a file and a folder"
        elif rel.startswith(ENTRIES + "/") and not ENTRY_NAME.match(rel):
            bad[rel] = "object in custody/entries/ that is not an entry object"
        elif rel.startswith(NAMED_FOLDERS) and not layout_file(rel):
            folder = next(f for f in NAMED_FOLDERS if rel.startswith(f))
            bad[rel] = f"object in {folder} whose name prov never writes there"
        elif rel == LOG_REL:
            bad[rel] = "a log file in a bucket, whose log is one object per entry"
        elif rel != "case.json" and not rel.startswith(LAYOUT):
            bad[rel] = "object outside the case's layout"
    return bad


def folder_files(current: list[str]) -> dict[str, str]:
    """Files of the layout that other keys lie below (``case.json`` beside
    ``case.json/x``): read, and named as findings."""
    return {rel: "key that is both a file and a folder (the keys below it are not read)"
            for rel in sorted(set(current) & _folders(current)) if layout_file(rel)}


def _folders(current: list[str]) -> set[str]:
    return {"/".join(rel.split("/")[:i]) for rel in current
            for i in range(1, min(rel.count("/"), MAX_NAME_PARTS) + 1)}


def entry_rel(seq: int) -> str:
    return f"{ENTRIES}/{seq:020d}.json"


def check_versions(bucket: Bucket, sub: str = "") -> None:
    """``IntegrityError`` (exit 3) if an evidence key under ``sub`` (everything but
    ``state/``) has more than one version or a delete marker: replaced or hidden evidence is
    never read as if it were the case, nor written over."""
    found: dict[str, list[str]] = {}
    for version in bucket.iter_versions(sub):
        if not version.rel.startswith("state/") and (not sub or version.rel == sub
                                                     or sub.endswith("/")):
            found.setdefault(version.rel, []).append(
                "delete marker" if version.delete_marker else "version")
    bad = sorted((rel, kinds) for rel, kinds in found.items()
                 if len(kinds) > 1 or "delete marker" in kinds)
    if bad:
        rel, kinds = bad[0]
        more = f" (and {len(bad) - 1} more keys)" if len(bad) > 1 else ""
        raise IntegrityError(f"{bucket.url}/{rel}: s3.versions: evidence written once has "
                             f"{kinds.count('version')} versions and "
                             f"{kinds.count('delete marker')} delete markers: replaced or "
                             f"hidden{more}", hint=f"run `prov verify {bucket.url}`")
