"""Making a case folder: its layout, ``case.json`` and the log's ``init`` entry.

Spec: docs/FORMATS.md, "Case folder" and "Custody log" (the init entry). Threat: an existing
folder is never taken over (a case is made only in an empty or new folder), so evidence already
there is never mixed into a new log.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from archive.errors import UsageError
from provenance.base import timefmt
from provenance.custody.case import Case, CaseInfo, write_durable
from provenance.custody.log import NewEntry, file_subject
from provenance.custody.stamping import Stamper, append_entries
from provenance.signing.keys import PublicKey, SigningKey


def create_case(path: Path, title: str, key: SigningKey, now: datetime,
                stamper: Stamper | None = None, retention: dict[str, Any] | None = None) -> Case:
    """Make a case folder at ``path`` (new or empty) and log its ``init`` entry."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise UsageError(f"{path}: exists and is not an empty folder")
    case_id = str(uuid.uuid4())
    info = CaseInfo(case_id, f"prov-case/{case_id}", title, timefmt.format_time(now),
                    retention=retention)
    path.mkdir(parents=True, exist_ok=True)
    for sub in ("keys", "certs", "captures", "custody/checkpoints", "state"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    raw = info.to_bytes()
    write_durable(path / "case.json", raw)
    cache_public_key(path, key.public)
    write_durable(path / "custody" / "log.jsonl", b"")
    case = Case(path, info, raw)
    details = {
        "caseId": case_id,
        "origin": info.origin,
        "title": title,
        "publicKey": base64.b64encode(key.public.raw).decode(),
        "keyName": key.name,
    }
    with case.lock():
        append_entries(case, stamper,
                       [NewEntry("init", (file_subject(case, path / "case.json"),), details)],
            key, now)
    return case


def cache_public_key(root: Path, key: PublicKey) -> None:
    """Keep a copy of ``key`` in the case's ``keys/`` (verify reads the log, not these)."""
    target = root / "keys" / f"{key.key_id.split(':', 1)[1]}.pub"
    if not target.exists():
        target.write_bytes(key.pem())
