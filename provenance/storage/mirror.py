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
to the bucket or the mirror; this module names what a bucket may hold (``unknown_names``,
``folder_files``) and refuses evidence keys that were replaced or hidden (``check_versions``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive.errors import IntegrityError, NotATargetError
from provenance.base import home, timefmt
from provenance.base.ids import CAPTURE_DAY
from provenance.base.untrusted import (
    MAX_NAME_PARTS,
    is_regular,
    is_safe_name,
    load_json,
    read_regular,
)
from provenance.custody import merkle
from provenance.custody.case import MAX_CASE_FILE, Case, CaseInfo
from provenance.custody.log import CustodyLog, NewEntry
from provenance.custody.treestore import TreeStore
from provenance.errors import ReadOnlyError, UntrustedInputError

if TYPE_CHECKING:
    from provenance.signing.keys import SigningKey
    from provenance.storage.lease import Lease
    from provenance.storage.store import Bucket, S3Url

ENTRIES = "custody/entries"
CHECKPOINTS = "custody/checkpoints"
READ_ONLY_KEY = "state/read-only"
SYNC = "s3-sync.json"
MAX_SYNC = 1 << 20
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

KEYS: dict[str, SigningKey] = {}
_endpoint: list[str] = []


def remember_key(key: SigningKey) -> None:
    """Keys loaded in this process: a writer that loses a race re-signs with them."""
    KEYS[key.key_id] = key
    KEYS["last"] = key


def set_endpoint(url: str | None) -> None:
    """``--endpoint-url`` for every bucket this process opens."""
    _endpoint[:] = [url] if url else []


def bucket_for(url: str) -> Bucket:
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


def mirror_root(url: S3Url) -> Path:
    return home.prov_home() / "cache" / "s3" / url.bucket / (url.prefix or "@")


class MirrorCase(Case):
    """A case folder that mirrors a bucket; ``lock()`` also commits to the bucket."""

    def __init__(self, root: Path, info: CaseInfo, raw_info: bytes, bucket: Bucket) -> None:
        super().__init__(root, info, raw_info)
        self.bucket = bucket
        self.lease: Lease | None = None
        self.confirmed: int | None = None  # log lines the bucket confirmed to this process

    @property
    def url(self) -> str:
        return str(self.bucket.url)

    def local_lock(self, wait: float = 30.0) -> contextlib.AbstractContextManager[None]:
        return super().lock(wait=wait)

    @contextlib.contextmanager
    def lock(self, *, wait: float = 30.0) -> Iterator[None]:
        from provenance.storage.pull import pull
        from provenance.storage.push import push

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
        from provenance.storage.lease import Lease
        from provenance.storage.pull import pull
        from provenance.storage.push import push

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
        from provenance.storage.lease import Lease

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
        from provenance.storage.push import download_many

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
        from archive.errors import LockedError

        raise LockedError(f"{case.url}: the lease of {previous.get('holder')} has expired; "
                          "taking it over is logged, which needs a signing key",
                          hint="run a command that signs (with --key)")
    entry = NewEntry("lease-takeover", (), {"previousHolder": str(previous.get("holder", "?")),
                                            "expired": str(previous.get("expires", "?")),
                                            "holder": holder, "lease": name})
    CustodyLog(case).append([entry], key, timefmt.utc_now())


def open_mirror(url: str) -> MirrorCase:
    """The mirror of the case at ``url``, brought up to date (under the mirror's flock)."""
    from provenance.storage.pull import pull

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


def prepare_mirror(root: Path, raw_info: bytes) -> None:
    for sub in ("keys", "certs", "captures", CHECKPOINTS, "state"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    if not (root / "case.json").is_file():
        (root / "case.json").write_bytes(raw_info)
    (root / "custody" / "log.jsonl").touch()


# -- what the mirror has pushed ---------------------------------------------------------------


def load_sync(case: Case) -> dict[str, Any]:
    try:
        doc = load_json(read_regular(case.state_dir / SYNC, MAX_SYNC), what=SYNC,
                        limit=MAX_SYNC)  # derived and untrusted: only a hint pull confirms
        return {"pushed": int(doc["pushed"]), "floor": int(doc["floor"]),
                "known": [str(n) for n in doc["known"]]}
    except (OSError, ValueError, KeyError, TypeError, UntrustedInputError):
        return {"pushed": 0, "floor": 0, "known": []}


def save_sync(case: Case, sync: dict[str, Any]) -> None:
    tmp = case.state_dir / (SYNC + ".tmp")
    tmp.write_text(json.dumps(sync))
    os.replace(tmp, case.state_dir / SYNC)


def log_size(case: Case) -> int:
    tree = TreeStore.for_log(case.state_dir / "tree", case.log_path)
    try:
        return len(tree)
    finally:
        tree.close()


def append_lines(case: Case, lines: Sequence[bytes]) -> None:
    """Append pulled lines to the mirror's log, keeping its tree cache in step."""
    tree = TreeStore.for_log(case.state_dir / "tree", case.log_path)
    try:
        fd = os.open(case.log_path, os.O_WRONLY | os.O_APPEND)
        try:
            start = os.fstat(fd).st_size
            os.write(fd, b"".join(line + b"\n" for line in lines))
            os.fsync(fd)
        finally:
            os.close(fd)
        for line in lines:
            tree.append(merkle.leaf_hash(line), start)
            start += len(line) + 1
        tree.save_meta(start)
    finally:
        tree.close()
