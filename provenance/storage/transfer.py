"""Moving files between a case folder and its bucket: create-only uploads checked against what
the bucket already holds, and downloads of names prov writes (a bucket is hostile input too).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from archive.errors import IntegrityError
from provenance.base.untrusted import is_safe_name
from provenance.errors import OtherBytes
from provenance.storage.layout import check_versions

if TYPE_CHECKING:
    from provenance.storage.store import Bucket, ObjectLock

WORKERS = 8


def upload_many(bucket: Bucket, root: Path, rels: Sequence[str],
                object_lock: ObjectLock | None) -> None:
    """Upload files (create-only); one already there must hold the same bytes."""
    def one(rel: str) -> None:
        upload_one(bucket, root / rel, rel, object_lock)

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(one, rels))


def upload_one(bucket: Bucket, path: Path, rel: str, object_lock: ObjectLock | None) -> str:
    """Upload a file create-only. A name that had a version or a delete marker is never
    written over (``If-None-Match: *`` succeeds over a delete marker, which would put our
    object beside hidden evidence); a name already holding the same bytes is done."""
    # optional: boto3 (the s3 extra), needed only for a case in a bucket
    from provenance.storage.store import PreconditionFailed

    if not path.is_file():
        raise IntegrityError(f"{path}: named by a new entry but missing from the mirror")
    if not bucket.versions_of(rel):
        try:
            return bucket.put_file(rel, path, object_lock)
        except PreconditionFailed:
            pass
    check_versions(bucket, rel)
    ours, theirs = local_checksum(path), bucket.stored_checksum(rel)
    if theirs == ours:
        return ours
    raise OtherBytes(f"{bucket.url}/{rel}: the bucket already holds other bytes "
                     f"(sha256 {theirs}, ours {ours})", hint=f"run `prov verify {bucket.url}`")


def local_checksum(path: Path) -> str:
    """The checksum S3 keeps for this file as ``put_file`` uploads it."""
    # optional: boto3 (the s3 extra), needed only for a case in a bucket
    from provenance.storage.store import (
        CHUNK,
        MULTIPART_THRESHOLD,
        PART_SIZE,
        b64,
        composite_sha256,
    )

    size = path.stat().st_size
    with open(path, "rb") as fh:
        if size <= MULTIPART_THRESHOLD:
            digest = hashlib.sha256()
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
            return b64(digest.digest())
        parts: list[bytes] = []
        while True:
            part = hashlib.sha256()
            left = PART_SIZE
            while left and (chunk := fh.read(min(CHUNK, left))):
                part.update(chunk)
                left -= len(chunk)
            if left == PART_SIZE:
                return composite_sha256(parts)
            parts.append(part.digest())


def download_many(bucket: Bucket, root: Path, rels: Sequence[str], *,
                  overwrite: bool = False) -> None:
    """Stream objects into ``root`` (names checked: a bucket is hostile input too)."""
    for rel in rels:
        if not is_safe_name(rel):
            raise IntegrityError(f"{bucket.url}/{rel}: not a name prov writes")

    def one(rel: str) -> None:
        target = root / rel
        if target.exists() and not overwrite:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        bucket.get_to_file(rel, tmp)
        os.replace(tmp, target)

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(one, rels))
