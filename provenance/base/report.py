"""Verification findings and the report they make (docs/FORMATS.md, "Verify report").

A finding is one check on one subject with a status: ``pass``, ``fail``, ``warn``, ``info``
or ``skip``. The JSON form (schema ``prov/verify-report/v1``) is an interface: golden tests
cover it and it changes only on purpose.

Threats (docs/SECURITY.md): a hostile target can make one check fail a million times (2 MB of
junk log lines), so past ``KEEP`` findings of one check and status the rest are counted, not
stored ("… and 999,900 more"), and the counts stay exact; it chooses the names in subjects
and messages, so the table (``provenance.cli.render``) prints each through ``printable``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from archive.errors import ExitCode

Status = Literal["pass", "fail", "warn", "info", "skip"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "warn", "info", "skip")
SCHEMA = "prov/verify-report/v1"
KEEP = 100  # findings stored per (check, status); the rest are counted


@dataclass(frozen=True)
class Finding:
    status: Status
    check: str
    subject: str
    message: str
    expected: str | None = None
    found: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status,
            "check": self.check,
            "subject": self.subject,
            "message": self.message,
        }
        if self.expected is not None:
            out["expected"] = self.expected
        if self.found is not None:
            out["found"] = self.found
        return out


@dataclass
class Report:
    target: str
    kind: str
    strict: bool = False
    findings: list[Finding] = field(default_factory=list)
    kind_reason: str = ""  # why ``kind``: what `prov verify` saw, or --as
    mode: str = "full"  # "fixity": files against their seals, records not inflated
    not_checked: list[str] = field(default_factory=list)  # checks a full verify runs, skipped
    last_full: dict[str, Any] | None = None  # fixity: the verifier's last full verify passed
    omitted: Counter[tuple[str, Status]] = field(default_factory=Counter)
    _kept: Counter[tuple[str, Status]] = field(default_factory=Counter, repr=False)
    _statuses: Counter[Status] = field(default_factory=Counter, repr=False)

    def add(self, status: Status, check: str, subject: str, message: str, *,
            expected: str | None = None, found: str | None = None) -> None:
        self.keep(Finding(status, check, subject, message, expected, found))

    def keep(self, finding: Finding) -> None:
        """Store ``finding``, or only count it once ``KEEP`` of its check and status are."""
        key = (finding.check, finding.status)
        self._statuses[finding.status] += 1
        if self._kept[key] >= KEEP:
            self.omitted[key] += 1
            return
        self._kept[key] += 1
        self.findings.append(finding)

    def count_more(self, status: Status, check: str, count: int) -> None:
        """Count ``count`` more findings of ``check`` past the ``KEEP`` already stored."""
        assert count == 0 or self._kept[(check, status)] >= KEEP
        self._statuses[status] += count
        if count:
            self.omitted[(check, status)] += count

    def merge(self, other: Report, subject: Callable[[Finding], str]) -> None:
        """Take ``other``'s findings (each ``subject`` renamed) and its omitted counts."""
        for finding in other.findings:
            self.keep(replace(finding, subject=subject(finding)))
        self.omitted.update(other.omitted)
        for (_, status), count in other.omitted.items():
            self._statuses[status] += count

    def findings_for(self, check: str) -> list[Finding]:
        return [f for f in self.findings if f.check == check]

    @property
    def counts(self) -> dict[str, int]:
        return {s: self._statuses[s] for s in STATUSES}

    @property
    def ok(self) -> bool:
        counts = self.counts
        return counts["fail"] == 0 and not (self.strict and counts["warn"])

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.ok else ExitCode.INTEGRITY

    def as_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "target": self.target,
            "kind": self.kind,
            "kindReason": self.kind_reason,
            "strict": self.strict,
            "mode": self.mode,
            "notChecked": list(self.not_checked),
            **({"lastFullVerify": dict(self.last_full)} if self.last_full else {}),
            "result": "pass" if self.ok else "fail",
            "exitCode": int(self.exit_code),
            "counts": self.counts,
            "findings": [f.as_json() for f in self.findings],
            "omitted": [{"check": check, "status": status, "count": count}
                        for (check, status), count in sorted(self.omitted.items())],
        }

