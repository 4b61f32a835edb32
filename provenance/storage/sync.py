"""The local mirror of a case in a bucket (docs/SCALING.md): its folder, what it has pushed,
its log, and the signing keys this process loaded.

The mirror ``$PROV_HOME/cache/s3/<bucket>/<prefix>/`` is an ordinary case folder derived from
the bucket and never trusted: ``s3-sync.json`` is only a hint that a pull confirms.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.base import home
from provenance.base.untrusted import load_json, read_regular
from provenance.custody import merkle
from provenance.custody.case import Case, CaseInfo, fsync_dir
from provenance.custody.log import CHECKPOINT_RE, shard, shard_names
from provenance.custody.logfile import iter_lines
from provenance.custody.treestore import TreeStore
from provenance.errors import UntrustedInputError
from provenance.storage.layout import CHECKPOINTS

if TYPE_CHECKING:
    from provenance.signing.keys import SigningKey
    from provenance.storage.lease import Lease
    from provenance.storage.store import Bucket, S3Url

SYNC = "s3-sync.json"
MAX_SYNC = 1 << 20
KEYS: dict[str, SigningKey] = {}


class BucketCase(Case):
    """A case folder that mirrors a bucket, as pull and push work on it: its bucket, the lease
    this process holds on it, and how many log lines the bucket confirmed
    (``provenance.storage.mirror.MirrorCase`` adds the commands' lock, which pulls and pushes)."""

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


def remember_key(key: SigningKey) -> None:
    """Keys loaded in this process: a writer that loses a race re-signs with them."""
    KEYS[key.key_id] = key
    KEYS["last"] = key


def mirror_root(url: S3Url) -> Path:
    return home.prov_home() / "cache" / "s3" / url.bucket / (url.prefix or "@")


def prepare_mirror(root: Path, raw_info: bytes) -> None:
    for sub in ("keys", "certs", "captures", CHECKPOINTS, "state"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    if not (root / "case.json").is_file():
        (root / "case.json").write_bytes(raw_info)
    (root / "custody" / "log.jsonl").touch()


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


def advance_floor(sync: dict[str, Any], names: Iterable[str]) -> None:
    """Record checkpoint names known to be in the bucket; forget those below the newest."""
    known = set(sync["known"]) | set(names)
    sizes = [s for n in known if (s := checkpoint_size(n)) is not None]
    floor = max([sync["floor"], *sizes])
    sync["floor"] = floor
    sync["known"] = sorted(n for n in known if checkpoint_size(n) == floor)


def checkpoint_size(name: str) -> int | None:
    match = CHECKPOINT_RE.match(name.split(".", 1)[0] + ".checkpoint")
    return int(match.group(1)) if match else None


def drop_unpushed(case: Case, keep: int) -> list[bytes]:
    """Cut the mirror's log back to ``keep`` entries and remove the checkpoints past it
    (never pushed: ours); return the lines cut."""
    lines = list(iter_lines(case.log_path))
    cut = sum(len(line) + 1 for line in lines[:keep])
    with open(case.log_path, "r+b") as fh:
        fh.truncate(cut)
        os.fsync(fh.fileno())
    shutil.rmtree(case.state_dir / "tree", ignore_errors=True)
    for folder in shard_names(case):
        if folder < shard(keep):
            continue
        for name in os.listdir(case.checkpoints_dir / folder):
            size = checkpoint_size(name)
            if size is not None and size > keep:
                os.unlink(case.checkpoints_dir / folder / name)
        fsync_dir(case.checkpoints_dir / folder)
    return lines[keep:]
