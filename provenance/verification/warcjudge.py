"""Judging a case's sealed WARC files against their seal, on every core.

The fast path is one pass that proves every byte: each file's sha256 against the seal's subject
digest (the compressed bytes, gzip framing included) and each record's RFC 9162 leaf hash
towards the seal's ``recordsRoot`` (the uncompressed records). The seal is signed, so when both
match, every record is exactly what was sealed, and the per-record digests inside are what the
operator signed. Only when a file does not match is it read again with every block and payload
digest checked, to name the records that changed (``record.*`` findings at ``path @offset id``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from archive.warc.members import BOMB
from archive.warc.reader import RecordHead
from archive.warc.scan import RecordResult
from provenance.base.report import Report
from provenance.base.untrusted import is_regular, iter_names
from provenance.custody import merkle
from provenance.custody.case import WARC_SUFFIXES
from provenance.verification.parallel import Engine, FileOutcome, Tally
from provenance.verification.revisits import RevisitLedger


class WarcJudge:
    def __init__(self, root: Path, report: Report, revisits: RevisitLedger, *,
                 jobs: int | None = None,
                 on_progress: Callable[[Tally], None] | None = None) -> None:
        self.root = root
        self.report = report
        self.revisits = revisits
        self._on_progress = on_progress
        self.engine = Engine(jobs, on_progress=self._progress if on_progress else None)

    def _progress(self, progress: Tally) -> None:
        assert self._on_progress is not None
        self._on_progress(replace(progress, failures=self.report.counts["fail"]))

    def plan(self, folders: Iterable[str]) -> None:
        """Capture folders in the order they will be judged: their WARCs are read ahead."""
        paths: list[Path] = []
        for folder in dict.fromkeys(folders):
            base = self.root / folder
            paths += sorted(base / n for n in iter_names(base)
                            if n.endswith(WARC_SUFFIXES) and is_regular(base / n))
        self.engine.plan(paths)

    def close(self) -> None:
        self.engine.close()

    def check(self, rel: str, sha256: bytes, records: int | None,
              tree: merkle.TreeBuilder) -> bool:
        """One sealed WARC: digest, record count, leaves into ``tree``; localise a mismatch."""
        path = self.root / rel
        if not is_regular(path):
            self.report.add("fail", "file.missing", rel, "sealed file is missing")
            return False
        outcome = self.engine.scan(path)
        if outcome.error is not None and BOMB in outcome.error and outcome.sha256 == sha256:
            # the bytes a trusted seal names, however compressible: read them unbounded
            outcome = self.engine.scan(path, bounded=False)
        self.revisits.note_responses(outcome.responses)
        self.revisits.note_decoded(outcome.decoded)
        for offset, headers in outcome.heads:
            head = RecordHead(offset, b"", "", list(headers), 0)
            self.revisits.note(f"{rel} @{offset} {head.record_id}", head)
        tree.extend(outcome.leaves)
        ok = outcome.error is None and outcome.sha256 == sha256 and outcome.count == records
        if outcome.sha256 is not None and outcome.sha256 != sha256:
            self.report.add("fail", "file.digest", rel, "file differs from the sealed digest",
                            expected=_label(sha256), found=_label(outcome.sha256))
        if not ok:
            self._localise(rel, path, outcome)
        if outcome.error is None and outcome.count != records:
            self.report.add("fail", "seal.records", rel, "record count differs from the seal",
                            expected=str(records), found=str(outcome.count))
        return ok

    def _localise(self, rel: str, path: Path, outcome: FileOutcome) -> None:
        """Read a file that does not match its seal again, checking every record's digests."""
        full = self.engine.scan(path, "full", digest=False)
        intact = all([self.record_findings(rel, record) for record in full.records])
        if full.error is not None:
            self.report.add("fail", "warc.format", rel, full.error)
        elif intact and outcome.sha256 is not None:
            self.report.add("info", "warc.records", rel, f"each of the {full.count} records "
                            "matches its own digests: what differs is the gzip framing, the "
                            "record order or set, or digests recomputed after an edit")

    def record_findings(self, rel: str, record: RecordResult) -> bool:
        where = f"{rel} @{record.offset} {record.record_id}"
        uri = record.uri
        about = f" ({record.warc_type} for {uri})" if uri else f" ({record.warc_type})"
        ok = True
        for label, result in (("block", record.block), ("payload", record.payload)):
            if result.status == "fail":
                self.report.add("fail", f"record.{label}Digest", where,
                                f"{label} digest does not match the record{about}",
                                expected=result.declared, found=result.computed or result.form)
                ok = False
        if record.block.status in ("absent", "unusable"):
            self.report.add("fail", "record.blockDigest", where, "no usable block digest")
            ok = False
        for problem in record.problems:
            self.report.add("fail", "record.headers", where, problem)
            ok = False
        return ok


def _label(digest: bytes) -> str:
    return "sha256:" + digest.hex()

