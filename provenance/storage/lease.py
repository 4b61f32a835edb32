"""The lease that lets one machine at a time commit to a case in a bucket.

``state/lease`` holds who holds it and until when (JSON). It is created with
``If-None-Match: *`` (exactly one creator wins), renewed by its holder with ``If-Match`` on the
ETag it last wrote (a holder that was taken over notices), and deleted with ``If-Match`` when
released. A lease whose expiry has passed may be taken over, again with ``If-Match``; the
taker writes a ``lease-takeover`` custody entry, so the takeover is part of the signed record.

Expiry is judged by the taker's clock: machines must keep time (NTP); the default lifetime
(60 s, renewed every 20 s) is far above ordinary clock skew. The lease is an efficiency and
ordering device: the log's safety does not rest on it, since every entry is written with
``If-None-Match: *`` and a writer that loses that race re-signs its entries.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from archive.errors import LockedError
from provenance.base import timefmt
from provenance.base.untrusted import load_json
from provenance.errors import StorageError, UntrustedInputError

if TYPE_CHECKING:
    from provenance.storage.store import Bucket

LEASE = "state/lease"
MAX_LEASE = 4096


def lease_seconds() -> float:
    return float(os.environ.get("PROV_S3_LEASE_SECONDS", "60"))


def lease_wait() -> float:
    return float(os.environ.get("PROV_S3_LEASE_WAIT", "600"))


class Lease:
    def __init__(self, bucket: Bucket, ttl: float | None = None, name: str = LEASE) -> None:
        self.bucket = bucket
        self.name = name
        self.ttl = ttl if ttl is not None else lease_seconds()
        self.holder = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4()}"
        self.acquired_at = ""
        self.etag: str | None = None
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    def _doc(self, now: datetime) -> bytes:
        self.acquired_at = self.acquired_at or timefmt.format_time(now)
        return json.dumps({"holder": self.holder, "acquired": self.acquired_at,
                           "expires": timefmt.format_time(now + timedelta(seconds=self.ttl))},
                          sort_keys=True).encode()

    def acquire(self, wait: float | None = None) -> dict[str, Any] | None:
        """Take the lease within ``wait`` seconds; return the expired lease taken over, if
        any (to be logged). ``LockedError`` (exit 7) if another holder keeps it."""
        # optional: boto3 (the s3 extra), needed only for a case in a bucket
        from provenance.storage.store import PreconditionFailed

        deadline = time.monotonic() + (lease_wait() if wait is None else wait)
        while True:
            try:
                self.etag = self.bucket.put_bytes(self.name, self._doc(timefmt.utc_now()),
                                                  if_none_match=True)
                self._start()
                return None
            except PreconditionFailed:
                pass
            got = self.bucket.get_bytes(self.name, MAX_LEASE)
            if got is None:
                continue  # released between our write and our read
            current, etag = _parse(got[0]), got[1]
            expires = current.get("expiresAt")
            if expires is None or expires < timefmt.utc_now():
                try:
                    self.etag = self.bucket.put_bytes(self.name, self._doc(timefmt.utc_now()),
                                                      if_match=etag)
                except PreconditionFailed:
                    continue
                self._start()
                current.pop("expiresAt", None)
                return current
            if time.monotonic() >= deadline:
                raise LockedError(
                    f"{self.bucket.url}: another machine holds the case's lease "
                    f"({current.get('holder', '?')}, until {current.get('expires', '?')})",
                    hint="wait for it, or raise PROV_S3_LEASE_WAIT (seconds)")
            time.sleep(random.uniform(0.05, 0.5))  # noqa: S311 (jitter, not a secret)

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._renew_loop, name="prov-lease", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            if not self.renew():
                return

    def renew(self) -> bool:
        # optional: boto3 (the s3 extra), needed only for a case in a bucket
        from provenance.storage.store import PreconditionFailed

        with self._mutex:
            if self.lost or self.etag is None:
                return False
            try:
                self.etag = self.bucket.put_bytes(self.name, self._doc(timefmt.utc_now()),
                                                  if_match=self.etag)
            except PreconditionFailed:
                self.lost = True  # taken over: our entries still go in only by If-None-Match
                return False
            except StorageError:
                return True  # try again at the next tick; the lease may still be ours
            return True

    def release(self) -> None:
        # optional: boto3 (the s3 extra), needed only for a case in a bucket
        from provenance.storage.store import PreconditionFailed

        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._mutex:
            if self.lost or self.etag is None:
                return
            with contextlib.suppress(PreconditionFailed, StorageError):  # it expires anyway
                self.bucket.delete(self.name, if_match=self.etag)
            self.etag = None


def _parse(data: bytes) -> dict[str, Any]:
    """The lease document; an unreadable one counts as expired."""
    try:
        doc = load_json(data, what=LEASE, limit=MAX_LEASE)  # written by anyone: bounded
        if not isinstance(doc, dict):
            return {}
        doc["expiresAt"] = timefmt.parse_time(doc["expires"])
        return doc
    except (ValueError, KeyError, TypeError, UntrustedInputError):
        return {}
