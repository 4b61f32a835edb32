"""Deduplication: the case's index of each URL's last capture, and verify's revisit check.

DESIGN, "Deduplication": a response whose decoded-body sha256, Content-Encoding and
Transfer-Encoding equal those of the URL's last capture in the case is written as a
``revisit`` (``archive.http.revisit``). ``DedupIndex`` is that "last capture" knowledge:
``CASE/state/dedup.json``, derived and unsigned, rebuilt from the WARCs of the logged
captures when missing or out of step with the log. It only ever names records of captures
already in the custody log, so a revisit never refers to a capture a crash could lose: a new
capture's records join the index after the capture is logged (``catch_up``).

The index is unsigned and anyone who can write the case can edit it, so a match is never
taken on its word (docs/SECURITY.md, "Derived state"): before a response is written as a
revisit, the original the index names is checked against its sealed capture (the seal verifies
with a trusted key and names this case and folder, the files have their sealed digests, and the
capture's own records give exactly the entry the index holds). An entry that does not match
makes the index be rebuilt from the log, with a warning; an original that still cannot be
confirmed is no original, and the response is stored whole.

Verify's side, the check of each revisit against its original, is
``provenance.verification.revisits``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from archive.errors import ProvError
from archive.http.recorder import Exchange
from archive.http.revisit import DedupKey, Original, dedup_key
from archive.warc.writer import Record
from provenance.base.ids import is_capture_dir
from provenance.base.untrusted import load_json, read_regular
from provenance.capture.resources import Resource, scan_capture
from provenance.custody import derived
from provenance.custody.case import Case
from provenance.custody.logfile import MAX_LINE
from provenance.signing.dsse import parse_envelope
from provenance.signing.keys import PublicKey
from provenance.signing.statements import Entry
from provenance.verification.sealedcaptures import SealedCaptures, log_trusted_keys

INDEX_FILE = "dedup.json"
MAX_INDEX = 1 << 30
VERSION = 1


@dataclass(frozen=True)
class Known:
    """A URL's last capture, when it can be an original."""

    record_id: str
    date: str
    payload_digest: str
    decoded: str
    content_encoding: str
    transfer_encoding: str
    capture_dir: str
    filename: str
    offset: int

    @property
    def key(self) -> DedupKey:
        return DedupKey(self.decoded, self.content_encoding, self.transfer_encoding)


class DedupIndex:
    """The index, and the hook ``Capturer`` asks before writing each response."""

    def __init__(self, case: Case, signer: PublicKey | None = None) -> None:
        """``signer``: the operator's key, the first a sealed original may be signed by (the
        keys the case's log trusts are replayed only for an original sealed by another)."""
        self.case = case
        self.path = case.state_dir / INDEX_FILE
        self.urls: dict[str, Known] = {}
        self.log_offset = 0
        self.tail = ""  # sha256 hex of the log line that ends at log_offset
        self.revisits = 0
        self.bytes_saved = 0
        own = {signer.key_id: signer} if signer is not None else {}
        self.sealed = SealedCaptures(case, own, partial(log_trusted_keys, case))
        self._scanned: dict[str, dict[str, Known | None]] = {}  # sealed originals, this run
        self._rebuilt = False

    @classmethod
    def load(cls, case: Case, signer: PublicKey | None = None) -> DedupIndex:
        """The saved index brought up to date with the log (rebuilt if missing or stale)."""
        index = cls(case, signer)
        try:
            doc = load_json(read_regular(index.path, MAX_INDEX), what=INDEX_FILE,
                            limit=MAX_INDEX)
            if doc.get("version") == VERSION:
                index.urls = {str(u): Known(**k) for u, k in doc["urls"].items()}
                index.log_offset, index.tail = int(doc["logOffset"]), str(doc["tail"])
        except (ProvError, OSError, ValueError, TypeError, KeyError, AttributeError):
            index = cls(case, signer)
        if not index._in_step():
            index = cls(case, signer)
        index.catch_up()
        return index

    def __call__(self, ex: Exchange, record: Record) -> Original | None:
        key = dedup_key(ex)
        known = self.urls.get(ex.url)
        if key is None or known is None or known.key != key:
            return None
        known = self._confirmed(ex.url, known)
        if known is None or known.key != key:
            return None
        self.revisits += 1
        self.bytes_saved += record.block.length - (record.block.payload_offset or 0)
        return Original(known.record_id, ex.url, known.date, known.payload_digest)

    def _confirmed(self, url: str, known: Known) -> Known | None:
        """``known`` if its sealed capture holds exactly that as the URL's response; else the
        entry of the index rebuilt from the log (once a run, with a warning), if that is."""
        if self._sealed_entry(url, known):
            return known
        if self._rebuilt:
            self.urls.pop(url, None)
            return None
        derived.rebuilt(f"state/{INDEX_FILE} (the dedup index)", f"its entry for {url} is "
                        f"not what the sealed capture {known.capture_dir} holds")
        self._rebuilt = True
        fresh = DedupIndex(self.case)
        fresh.catch_up()
        self.urls, self.log_offset, self.tail = fresh.urls, fresh.log_offset, fresh.tail
        again = self.urls.get(url)
        if again is None or not self._sealed_entry(url, again):
            self.urls.pop(url, None)
            return None
        return again

    def _sealed_entry(self, url: str, known: Known) -> bool:
        """Whether the capture ``known`` names is sealed for this case by a trusted key, its
        files as sealed, and its own records make ``known`` the URL's entry."""
        folder = known.capture_dir
        if not is_capture_dir(folder):
            return False
        if folder not in self._scanned:
            seal = self.sealed.seal(folder)
            entries: dict[str, Known | None] = {}
            if seal is not None:
                probe = DedupIndex(self.case)
                probe.apply(folder, scan_capture(self.case.root / folder))
                entries = dict(probe.urls)
            self._scanned[folder] = entries
        return self._scanned[folder].get(url) == known

    def _in_step(self) -> bool:
        """Whether the log still holds, ending at ``log_offset``, the line the index read last."""
        if self.log_offset == 0:
            return True
        try:
            with open(self.case.log_path, "rb") as fh:
                fh.seek(max(0, self.log_offset - MAX_LINE - 2))
                before = fh.read(self.log_offset - fh.tell())
        except OSError:
            return False
        line = before[:-1].rsplit(b"\n", 1)[-1]
        return before.endswith(b"\n") and hashlib.sha256(line).hexdigest() == self.tail

    def catch_up(self, scanned: dict[str, list[Resource]] | None = None) -> list[str]:
        """Add the captures logged since the index last read the log; their folders, in order.
        ``scanned`` holds (and receives) resources already read, by capture folder."""
        scanned = {} if scanned is None else scanned
        added: list[str] = []
        with open(self.case.log_path, "rb") as fh:
            fh.seek(self.log_offset)
            while (line := fh.readline(MAX_LINE + 2)).endswith(b"\n"):
                folder = _logged_capture(line[:-1])
                if folder is not None and (self.case.root / folder).is_dir():
                    if folder not in scanned:
                        scanned[folder] = scan_capture(self.case.root / folder)
                    self.apply(folder, scanned[folder])
                    added.append(folder)
                self.log_offset += len(line)
                self.tail = hashlib.sha256(line[:-1]).hexdigest()
        return added

    def apply(self, capture_dir: str, resources: list[Resource]) -> None:
        for res in resources:
            if res.warc_type != "response":
                continue  # a revisit leaves its original as the URL's last capture
            key = res.key
            if key is None or res.payload_digest is None:
                self.urls.pop(res.url, None)
                continue
            self.urls[res.url] = Known(res.record_id, res.date, res.payload_digest,
                                       key.decoded_sha256, key.content_encoding,
                                       key.transfer_encoding, capture_dir, res.filename,
                                       res.offset)

    def save(self) -> None:
        doc = {"version": VERSION, "logOffset": self.log_offset, "tail": self.tail,
               "urls": {u: asdict(k) for u, k in sorted(self.urls.items())}}
        derived.make_way(self.path.parent, folder=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        for path in (self.path, tmp):
            derived.make_way(path)
        tmp.write_text(json.dumps(doc, separators=(",", ":")))
        os.replace(tmp, self.path)


def _logged_capture(line: bytes) -> str | None:
    """The capture folder a log line's ``capture`` entry names (unverified: derived use)."""
    try:
        entry = Entry.parse(parse_envelope(line, what="log").payload, what="log")
    except (ProvError, ValueError):  # an unreadable line is verify's business, not ours
        return None
    folder = str(entry.details.get("captureDir", ""))
    return folder if entry.action == "capture" and is_capture_dir(folder) else None


def summary(index: DedupIndex) -> dict[str, Any]:
    return {"urls": len(index.urls), "revisits": index.revisits,
            "bytesSaved": index.bytes_saved}
