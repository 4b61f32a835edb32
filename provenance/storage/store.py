"""Bucket I/O for a case kept in S3-compatible object storage, with Object Lock (boto3).

S3 API used, and why: PutObject and UploadPart with ``x-amz-checksum-sha256`` (the server
recomputes it over what it received and refuses a mismatch, so a corrupted upload never
becomes an object); conditional writes, ``If-None-Match: *`` (create only) and ``If-Match``
(replace only what we last saw), which make the log's one-object-per-entry append and the
lease safe without any other coordination; ListObjectVersions (a second version or a delete
marker under an evidence key is tampering); Object Lock retention and legal hold.

Credentials, region and endpoint come from boto3's standard chain (environment, shared
config, ``AWS_ENDPOINT_URL``); ``--endpoint-url`` overrides the endpoint. Nothing is held
whole in memory: files are hashed and sent in parts, and read back in chunks.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from archive.errors import ConfigError, IntegrityError, UsageError
from provenance.base.install import install_hint
from provenance.base.untrusted import read_capped
from provenance.errors import StorageError

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError as exc:  # the s3 extra is not installed: a configuration error, exit 6
    raise ConfigError(f"cases in a bucket need the boto3 package: {exc}",
                      hint=install_hint("s3")) from None

CHUNK = 1 << 20
MULTIPART_THRESHOLD = 64 << 20
PART_SIZE = 16 << 20
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
PREFIX_RE = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


class PreconditionFailed(Exception):
    """A conditional write lost: the object exists (If-None-Match) or changed (If-Match)."""


@dataclass(frozen=True)
class S3Url:
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Url:
        if not url.startswith("s3://"):
            raise UsageError(f"{url}: not an s3://BUCKET/PREFIX URL")
        bucket, _, prefix = url[5:].partition("/")
        prefix = prefix.strip("/")
        if not BUCKET_RE.match(bucket) or (prefix and not PREFIX_RE.match(prefix)):
            raise UsageError(f"{url}: expected s3://BUCKET/PREFIX with a valid bucket name "
                             "and a prefix of letters, digits, '.', '_', '-' and '/'")
        return cls(bucket, prefix)

    def key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def rel(self, key: str) -> str:
        return key[len(self.prefix) + 1:] if self.prefix else key

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


@dataclass(frozen=True)
class ObjectLock:
    """Object Lock settings of one write: mode ``COMPLIANCE`` or ``GOVERNANCE``, and until."""

    mode: str
    until: datetime


@dataclass(frozen=True)
class ObjectVersion:
    rel: str
    version_id: str
    latest: bool
    delete_marker: bool
    size: int
    modified: datetime


@dataclass(frozen=True)
class Got:
    """What a GET returned besides the bytes: version, lock state, checksum."""

    version_id: str
    lock_mode: str | None
    retain_until: datetime | None
    legal_hold: bool
    sha256: bytes


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def composite_sha256(part_digests: list[bytes]) -> str:
    """S3's COMPOSITE checksum of a multipart object: sha256 of the part sha256s, "-N"."""
    return f"{b64(hashlib.sha256(b''.join(part_digests)).digest())}-{len(part_digests)}"


def make_client(endpoint_url: str | None) -> Any:
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get(
        "AWS_ENDPOINT_URL")
    config = Config(s3={"addressing_style": "path"} if endpoint else {},
                    retries={"max_attempts": 5, "mode": "standard"},
                    max_pool_connections=32)
    try:
        return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)
    except (BotoCoreError, ValueError) as exc:
        raise StorageError(f"cannot set up the S3 client: {exc}") from None


class Bucket:
    """One case's prefix in one bucket. ``rel`` names are relative to the prefix."""

    def __init__(self, url: S3Url, endpoint_url: str | None = None, client: Any = None) -> None:
        self.url = url
        self.client = client or make_client(endpoint_url)

    def _call(self, what: str, op: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, op)(Bucket=self.url.bucket, **kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (
                    409, 412):
                raise PreconditionFailed(what) from None
            if code in ("NoSuchKey", "404", "NotFound"):
                raise FileNotFoundError(what) from None
            if code in ("BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"):
                raise IntegrityError(f"{self.url}/{what}: the server received other bytes "
                                     f"than were sent ({code})") from None
            raise StorageError(f"{self.url}/{what}: {op} refused: {code} "
                               f"{error.get('Message', '')}".rstrip(),
                               hint=HINTS.get(code)) from None
        except BotoCoreError as exc:
            raise StorageError(f"{self.url}/{what}: {op} failed: {exc}",
                               hint="check the endpoint, credentials and region "
                                    "(AWS_* environment, ~/.aws, --endpoint-url)") from None

    # -- writing ----------------------------------------------------------------------------

    def put_bytes(self, rel: str, data: bytes, object_lock: ObjectLock | None = None, *,
                  if_none_match: bool = False, if_match: str | None = None) -> str:
        """Write a small object; return its ETag. ``PreconditionFailed`` if a condition fails."""
        kwargs: dict[str, Any] = {"Key": self.url.key(rel), "Body": data,
                                  "ChecksumSHA256": b64(hashlib.sha256(data).digest())}
        kwargs.update(_object_lock_args(object_lock))
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        if if_match:
            kwargs["IfMatch"] = if_match
        return str(self._call(rel, "put_object", **kwargs).get("ETag", ""))

    def put_file(self, rel: str, path: Path, object_lock: ObjectLock | None = None, *,
                 if_none_match: bool = True) -> str:
        """Upload a file (multipart past ``MULTIPART_THRESHOLD``); return the checksum the
        server computed and verified on receipt (S3 form: base64, "-N" for N parts)."""
        size = path.stat().st_size
        if size > MULTIPART_THRESHOLD:
            return self._put_multipart(rel, path, size, object_lock, if_none_match)
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
            fh.seek(0)
            kwargs: dict[str, Any] = {"Key": self.url.key(rel), "Body": fh,
                                      "ContentLength": size,
                                      "ChecksumSHA256": b64(digest.digest())}
            kwargs.update(_object_lock_args(object_lock))
            if if_none_match:
                kwargs["IfNoneMatch"] = "*"
            self._call(rel, "put_object", **kwargs)
        return b64(digest.digest())

    def _put_multipart(self, rel: str, path: Path, size: int, object_lock: ObjectLock | None,
                       if_none_match: bool) -> str:
        key = self.url.key(rel)
        started = self._call(rel, "create_multipart_upload", Key=key, ChecksumAlgorithm="SHA256",
                             **_object_lock_args(object_lock))
        upload = started["UploadId"]
        parts, digests = [], []
        try:
            with open(path, "rb") as fh:
                number = 0
                while data := fh.read(PART_SIZE):  # one part in memory at a time
                    number += 1
                    digests.append(hashlib.sha256(data).digest())
                    done = self._call(rel, "upload_part", Key=key, UploadId=upload,
                                      PartNumber=number, Body=data,
                                      ChecksumSHA256=b64(digests[-1]))
                    parts.append({"PartNumber": number, "ETag": done["ETag"],
                                  "ChecksumSHA256": b64(digests[-1])})
            extra = {"IfNoneMatch": "*"} if if_none_match else {}
            self._call(rel, "complete_multipart_upload", Key=key, UploadId=upload,
                       MultipartUpload={"Parts": parts}, **extra)
        except BaseException:
            # an orphaned upload costs storage, never evidence; lifecycle rules clean it up
            with contextlib.suppress(ClientError, BotoCoreError):
                self.client.abort_multipart_upload(Bucket=self.url.bucket, Key=key,
                                                   UploadId=upload)
            raise
        return composite_sha256(digests)

    def set_legal_hold(self, rel: str, version_id: str, on: bool) -> None:
        self._call(rel, "put_object_legal_hold", Key=self.url.key(rel), VersionId=version_id,
                   LegalHold={"Status": "ON" if on else "OFF"})

    def delete(self, rel: str, *, if_match: str | None = None) -> None:
        extra = {"IfMatch": if_match} if if_match else {}
        self._call(rel, "delete_object", Key=self.url.key(rel), **extra)

    # -- reading ----------------------------------------------------------------------------

    def get_bytes(self, rel: str, limit: int) -> tuple[bytes, str] | None:
        """A small object and its ETag, or None if there is none; larger than ``limit``
        raises ``IntegrityError``."""
        try:
            got = self._call(rel, "get_object", Key=self.url.key(rel))
        except FileNotFoundError:
            return None
        body = got["Body"]
        try:
            data = read_capped(body, limit, what=f"{self.url}/{rel}")
        finally:
            body.close()
        return data, str(got.get("ETag", ""))

    def get_to_file(self, rel: str, path: Path, *, version_id: str | None = None) -> Got:
        """Stream an object into ``path`` (hashing as it goes) and say what the GET said."""
        with open(path, "wb") as fh:
            return self._get(rel, fh.write, version_id)

    def get_digest(self, rel: str) -> Got:
        """Stream an object through sha256 only, writing it nowhere; what the GET said."""
        return self._get(rel, None, None)

    def _get(self, rel: str, sink: Callable[[bytes], object] | None,
             version_id: str | None) -> Got:
        extra = {"VersionId": version_id} if version_id else {}
        got = self._call(rel, "get_object", Key=self.url.key(rel), **extra)
        digest = hashlib.sha256()
        body = got["Body"]
        try:
            for chunk in body.iter_chunks(CHUNK):
                digest.update(chunk)
                if sink is not None:
                    sink(chunk)
        finally:
            body.close()
        return Got(str(got.get("VersionId") or ""), got.get("ObjectLockMode"),
                   got.get("ObjectLockRetainUntilDate"),
                   got.get("ObjectLockLegalHoldStatus") == "ON", digest.digest())

    def stored_checksum(self, rel: str) -> str | None:
        """The SHA256 checksum the server holds for the object (None if it keeps none)."""
        head = self._call(rel, "head_object", Key=self.url.key(rel), ChecksumMode="ENABLED")
        value = head.get("ChecksumSHA256")
        return str(value) if value else None

    def _pages(self, op: str, sub: str, **extra: Any) -> Iterator[dict[str, Any]]:
        base = self.url.prefix + "/" if self.url.prefix else ""
        try:
            yield from self.client.get_paginator(op).paginate(
                Bucket=self.url.bucket, Prefix=base + sub, **extra)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"{self.url}: cannot list ({op}): {exc}") from None

    def iter_keys(self, sub: str = "", *, start_after: str | None = None) -> Iterator[
            tuple[str, int]]:
        """(rel, size) of each current object under ``sub`` in key order."""
        extra = {"StartAfter": self.url.key(start_after)} if start_after else {}
        for page in self._pages("list_objects_v2", sub, **extra):
            for item in page.get("Contents", []):
                yield self.url.rel(item["Key"]), int(item["Size"])

    def iter_versions(self, sub: str = "", *, after: str | None = None) -> Iterator[
            ObjectVersion]:
        """Every version and delete marker under ``sub`` (of keys after ``after``)."""
        extra = {"KeyMarker": self.url.key(after)} if after else {}
        for page in self._pages("list_object_versions", sub, **extra):
            for marker, kind in ((False, "Versions"), (True, "DeleteMarkers")):
                for item in page.get(kind, []):
                    yield ObjectVersion(self.url.rel(item["Key"]), str(item["VersionId"]),
                                        bool(item["IsLatest"]), marker,
                                        int(item.get("Size", 0)), item["LastModified"])

    def versions_of(self, rel: str) -> list[ObjectVersion]:
        """The versions and delete markers of exactly ``rel`` (a listing by prefix, since a
        plain GET or ``If-None-Match: *`` does not see a key hidden by a delete marker)."""
        return [v for v in self.iter_versions(rel) if v.rel == rel]

    def object_lock_enabled(self) -> bool:
        try:
            got = self._call("", "get_object_lock_configuration")
        except (StorageError, FileNotFoundError):
            return False
        return bool(got.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled")


def _object_lock_args(object_lock: ObjectLock | None) -> dict[str, Any]:
    if object_lock is None:
        return {}
    return {"ObjectLockMode": object_lock.mode, "ObjectLockRetainUntilDate": object_lock.until}


HINTS = {
    "AccessDenied": "check the credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE, ~/.aws) and rights",
    "InvalidAccessKeyId": "check the credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE, ~/.aws)",
    "SignatureDoesNotMatch": "check the credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE, ~/.aws)",
    "NoSuchBucket": "create the bucket with Object Lock enabled first",
    "InvalidRequest": "is Object Lock enabled on the bucket? it can only be enabled at creation",
}
