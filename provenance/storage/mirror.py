"""A case in a bucket, worked on through a local mirror (docs/SCALING.md).

Under ``s3://BUCKET/PREFIX/`` a case has the folder's layout, except that the log is one
object per entry, ``custody/entries/<seq:020d>.json`` (the line with its newline; their
concatenation is ``log.jsonl``), and ``state/`` holds only the lease and the read-only marker,
outside retention. The mirror ``$PROV_HOME/cache/s3/<bucket>/<prefix>/`` is an ordinary case
folder derived from the bucket and never trusted (verify of a bucket mirrors into a fresh
temporary folder). The ordinary local code runs on it unchanged: ``MirrorCase.lock()``, which
every appending command already takes, takes the bucket's lease, pulls what is new and
judges it (``provenance.storage.pull``), lets the command append, then pushes
(``provenance.storage.push``). Threat (docs/SECURITY.md, "Object storage"): anyone with write access
to the bucket or the mirror; what a bucket may hold and the refusal of replaced or hidden
evidence keys are ``provenance.storage.layout``'s, the mirror's own state
``provenance.storage.sync``'s.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Sequence
from typing import Any

from archive.errors import IntegrityError, LockedError, NotATargetError
from provenance.base import timefmt
from provenance.base.untrusted import (
    is_regular,
    read_regular,
)
from provenance.custody.case import MAX_CASE_FILE, CaseInfo
from provenance.custody.log import CustodyLog, NewEntry
from provenance.errors import ReadOnlyError, UntrustedInputError
from provenance.storage.layout import (
    READ_ONLY_KEY,
    bucket_for,
    check_versions,
    folder_files,
    unknown_names,
)
from provenance.storage.lease import Lease
from provenance.storage.pull import pull
from provenance.storage.push import push
from provenance.storage.sync import KEYS, BucketCase, mirror_root, prepare_mirror
from provenance.storage.transfer import download_many


class MirrorCase(BucketCase):
    """A case folder that mirrors a bucket; ``lock()`` also commits to the bucket."""

    @contextlib.contextmanager
    def lock(self, *, wait: float = 30.0) -> Iterator[None]:
        if self.lease is not None:  # inside case_session: the lease is already ours
            with super().lock(wait=wait):
                pull(self)
                try:
                    yield
                finally:
                    push(self)
            return
        with self.session(), super().lock(wait=wait):
            try:
                yield
            finally:
                push(self)

    @contextlib.contextmanager
    def session(self, wait: float | None = None) -> Iterator[None]:
        """Hold the bucket's lease for a whole command (``api.case_session``)."""
        if self.lease is not None:
            yield
            return
        lease = Lease(self.bucket)
        previous = lease.acquire(wait)
        self.lease = lease
        try:
            with super().lock():
                pull(self)
                marker = self.bucket.get_bytes(READ_ONLY_KEY, 4096)
                if marker is not None:
                    raise ReadOnlyError(f"{self.url}: read-only since it was copied "
                                        f"({marker[0].decode(errors='replace').strip()})",
                                        hint=f"work on the copy; delete {READ_ONLY_KEY} in the "
                                             "bucket to append here anyway")
                if previous is not None:
                    _log_takeover(self, previous, lease.holder, lease.name)
                    push(self)
            yield
            with super().lock():
                push(self)
        finally:
            lease.release()
            self.lease = None

    @contextlib.contextmanager
    def run_lease(self, name: str, wait: float = 0.0) -> Iterator[None]:
        """Hold ``state/<name>.lease`` for a long run (``schedule run``) so that no other
        machine starts the same run; commits still take the case's lease one at a time."""
        lease = Lease(self.bucket, name=f"state/{name}.lease")
        previous = lease.acquire(wait)
        try:
            if previous is not None:
                with self.lock():
                    _log_takeover(self, previous, lease.holder, lease.name)
            yield
        finally:
            lease.release()

    def fetch_captures(self, folders: Sequence[str] | None = None) -> None:
        """Download capture files the mirror lacks (all captures, or the given folders),
        once the bucket's evidence is known to be written once (every command that reads
        captures: copy, exports, reports, disclosures)."""
        check_versions(self.bucket)
        wanted = []
        for sub in folders or ["captures/"]:
            prefix = sub if sub.endswith("/") else sub + "/"
            listed = [rel for rel, _ in self.bucket.iter_keys(prefix)]
            odd = {**unknown_names(listed), **folder_files(listed)}
            for rel, why in sorted(odd.items())[:1]:
                raise IntegrityError(f"{self.url}/{rel}: s3.key: {why}",
                                     hint=f"run `prov verify {self.url}`")
            wanted += [rel for rel in listed if not (self.root / rel).exists()]
        download_many(self.bucket, self.root, wanted)


def _log_takeover(case: MirrorCase, previous: dict[str, Any], holder: str, name: str) -> None:
    key = KEYS.get("last")
    if key is None:
        raise LockedError(f"{case.url}: the lease of {previous.get('holder')} has expired; "
                          "taking it over is logged, which needs a signing key",
                          hint="run a command that signs (with --key)")
    entry = NewEntry("lease-takeover", (), {"previousHolder": str(previous.get("holder", "?")),
                                            "expired": str(previous.get("expires", "?")),
                                            "holder": holder, "lease": name})
    CustodyLog(case).append([entry], key, timefmt.utc_now())


def open_mirror(url: str) -> MirrorCase:
    """The mirror of the case at ``url``, brought up to date (under the mirror's flock)."""
    bucket = bucket_for(url)
    check_versions(bucket, "case.json")
    got = bucket.get_bytes("case.json", MAX_CASE_FILE)
    if got is None:
        raise NotATargetError(f"{bucket.url}: not a prov case (no case.json)",
                              hint="create one with `prov init s3://BUCKET/PREFIX`")
    raw = got[0]
    info = CaseInfo.from_bytes(raw, what=f"{bucket.url}/case.json")
    root = mirror_root(bucket.url)
    try:
        other = is_regular(root / "case.json") and read_regular(root / "case.json",
                                                                MAX_CASE_FILE) != raw
    except UntrustedInputError:
        other = True  # larger than a case.json, or swapped for something else since
    if other:
        shutil.rmtree(root)  # a mirror of another case once kept at this URL
    prepare_mirror(root, raw)
    case = MirrorCase(root, info, raw, bucket)
    with case.local_lock():
        pull(case)
    return case


# -- what the mirror has pushed ---------------------------------------------------------------


