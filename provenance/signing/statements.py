"""The statements prov signs: capture seals (in-toto Statement v1) and custody log entries.

Both are serialised as RFC 8785 canonical JSON and wrapped in DSSE envelopes with their own
payload types, so neither can be mistaken for the other. Statements are frozen dataclasses;
time is always a parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import rfc8785

from provenance.base import timefmt
from provenance.base.untrusted import NAME, load_json
from provenance.errors import StatementError

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
CAPTURE_PREDICATE = "https://prov.invalid/capture/v1"
IN_TOTO_PAYLOAD = "application/vnd.in-toto+json"
CUSTODY_PAYLOAD = "application/vnd.prov.custody.v1+json"
MAX_STATEMENT = 16 << 20  # a payload inside a DSSE envelope (signing.MAX_ENVELOPE)
HEX64 = re.compile(r"^[0-9a-f]{64}$")
UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SUBJECT_NAME = re.compile(rf"^{NAME}$")

#: The closed list of custody actions (docs/FORMATS.md, "Custody actions").
ACTIONS = frozenset(
    {
        "init",
        "key-trusted",
        "key-revoked",
        "capture",
        "capture-failed",
        "timestamp-added",
        "timestamp-pending",
        "repair",
        "note",
        "transfer",
        "accepted",
        "disposition",
        "export",
        "change-detected",
        "takedown-detected",
        "transfer-started",
        "lease-takeover",
    }
)


def digest_label(digest: bytes) -> str:
    return "sha256:" + digest.hex()


def parse_digest_label(text: Any, *, what: str) -> bytes:
    if not isinstance(text, str) or not text.startswith("sha256:") or not HEX64.match(text[7:]):
        raise StatementError(f"{what}: expected sha256:<64 hex>, found {str(text)[:80]!r}")
    return bytes.fromhex(text[7:])


@dataclass(frozen=True)
class Subject:
    """A file named relative to a folder, with its sha256."""

    name: str
    sha256: bytes


@dataclass(frozen=True)
class CaptureSeal:
    """The predicate of a capture seal, with the statement's subjects."""

    case_id: str  # the case the capture was sealed for (case.json ``id``)
    capture_id: str
    capture_dir: str
    started_at: str
    ended_at: str
    operator: str
    tool_version: str
    subjects: tuple[Subject, ...]
    records: Mapping[str, int]
    records_root: bytes
    note: str | None = None

    def payload(self) -> bytes:
        predicate: dict[str, Any] = {
            "caseId": self.case_id,
            "captureId": self.capture_id,
            "captureDir": self.capture_dir,
            "startedAt": self.started_at,
            "endedAt": self.ended_at,
            "tool": {"name": "prov", "version": self.tool_version},
            "operator": self.operator,
            "records": dict(self.records),
            "recordsRoot": digest_label(self.records_root),
        }
        if self.note:
            predicate["note"] = self.note
        return bytes(
            rfc8785.dumps(
                {
                    "_type": STATEMENT_TYPE,
                    "subject": [
                        {"name": s.name, "digest": {"sha256": s.sha256.hex()}}
                        for s in self.subjects
                    ],
                    "predicateType": CAPTURE_PREDICATE,
                    "predicate": predicate,
                }
            )
        )

    @classmethod
    def parse(cls, payload: bytes, *, what: str) -> CaptureSeal:
        try:
            doc = load_json(payload, what=what, limit=MAX_STATEMENT)
            if doc.get("_type") != STATEMENT_TYPE:
                raise ValueError(f"_type is {doc.get('_type')!r}")
            if doc.get("predicateType") != CAPTURE_PREDICATE:
                raise ValueError(f"predicateType is {doc.get('predicateType')!r}")
            pred = doc["predicate"]
            subjects = tuple(_subject(s) for s in doc["subject"])
            records = {str(k): int(v) for k, v in pred["records"].items()}
            case_id = pred["caseId"]
            if not isinstance(case_id, str) or not UUID_TEXT.match(case_id):
                raise ValueError(f"caseId is {str(case_id)[:80]!r}, not a case id")
            seal = cls(
                case_id=case_id,
                capture_id=str(pred["captureId"]),
                capture_dir=str(pred["captureDir"]),
                started_at=str(pred["startedAt"]),
                ended_at=str(pred["endedAt"]),
                operator=str(pred["operator"]),
                tool_version=str(pred["tool"]["version"]),
                subjects=subjects,
                records=records,
                records_root=parse_digest_label(pred["recordsRoot"], what=what),
                note=pred.get("note"),
            )
            timefmt.parse_time(seal.started_at)
            timefmt.parse_time(seal.ended_at)
        except StatementError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise StatementError(f"{what}: not a prov capture statement ({exc})") from None
        return seal


def _subject(item: Any) -> Subject:
    name = item["name"]
    digest = item["digest"]["sha256"]
    if not isinstance(name, str) or not SUBJECT_NAME.match(name):
        raise ValueError(f"bad subject name {str(name)[:80]!r}")
    if not isinstance(digest, str) or not HEX64.match(digest):
        raise ValueError(f"bad subject digest for {name}")
    return Subject(name, bytes.fromhex(digest))


@dataclass(frozen=True)
class Prev:
    """The checkpoint an entry was appended after: its size, root and stamp tokens."""

    size: int
    root: bytes
    tokens: tuple[Subject, ...] = ()

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"size": self.size, "root": digest_label(self.root)}
        if self.tokens:
            out["tokens"] = [{"path": t.name, "sha256": t.sha256.hex()} for t in self.tokens]
        return out


@dataclass(frozen=True)
class Entry:
    """One custody log entry (docs/FORMATS.md, "Custody log")."""

    seq: int
    time: str
    actor: str
    action: str
    subjects: tuple[Subject, ...]
    prev: Prev
    details: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> bytes:
        return bytes(
            rfc8785.dumps(
                {
                    "seq": self.seq,
                    "time": self.time,
                    "actor": self.actor,
                    "action": self.action,
                    "subjects": [{"path": s.name, "sha256": s.sha256.hex()} for s in self.subjects],
                    "prev": self.prev.as_json(),
                    "details": dict(self.details),
                }
            )
        )

    @classmethod
    def parse(cls, payload: bytes, *, what: str) -> Entry:
        try:
            doc = load_json(payload, what=what, limit=MAX_STATEMENT)
            keys = {"seq", "time", "actor", "action", "subjects", "prev", "details"}
            if not isinstance(doc, dict) or set(doc) != keys:
                raise ValueError("fields are not " + ", ".join(sorted(keys)))
            if doc["action"] not in ACTIONS:
                raise ValueError(f"unknown action {str(doc['action'])[:40]!r}")
            if not isinstance(doc["seq"], int) or not isinstance(doc["details"], dict):
                raise ValueError("bad seq or details")
            timefmt.parse_time(doc["time"])
            prev = doc["prev"]
            entry = cls(
                seq=doc["seq"],
                time=doc["time"],
                actor=str(doc["actor"]),
                action=doc["action"],
                subjects=tuple(_path_subject(s) for s in doc["subjects"]),
                prev=Prev(
                    int(prev["size"]),
                    parse_digest_label(prev["root"], what=what),
                    tuple(_path_subject(t) for t in prev.get("tokens", [])),
                ),
                details=doc["details"],
            )
        except StatementError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise StatementError(f"{what}: not a custody entry ({exc})") from None
        return entry


def _path_subject(item: Any) -> Subject:
    return _subject({"name": item["path"], "digest": {"sha256": item["sha256"]}})
