"""Verification findings and the report they make (docs/FORMATS.md, "Verify report").

A finding is one check on one subject with a status: ``pass``, ``fail``, ``warn``, ``info``
or ``skip``. The JSON form (schema ``prov/verify-report/v1``) is an interface: golden tests
cover it and it changes only on purpose.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from archive.errors import ExitCode

Status = Literal["pass", "fail", "warn", "info", "skip"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "warn", "info", "skip")
SCHEMA = "prov/verify-report/v1"


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

    def add(self, status: Status, check: str, subject: str, message: str, *,
            expected: str | None = None, found: str | None = None) -> None:
        self.findings.append(Finding(status, check, subject, message, expected, found))

    def findings_for(self, check: str) -> list[Finding]:
        return [f for f in self.findings if f.check == check]

    @property
    def counts(self) -> dict[str, int]:
        counter = Counter(f.status for f in self.findings)
        return {s: counter.get(s, 0) for s in STATUSES}

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
            "strict": self.strict,
            "result": "pass" if self.ok else "fail",
            "exitCode": int(self.exit_code),
            "counts": self.counts,
            "findings": [f.as_json() for f in self.findings],
        }

    def render_table(self, *, verbose: bool = False) -> str:
        shown = [f for f in self.findings if verbose or f.status != "pass"]
        lines = []
        for f in shown:
            line = f"{f.status.upper():5} {f.check:24} {f.subject}: {f.message}"
            if f.expected is not None or f.found is not None:
                line += f"\n      expected {f.expected}\n      found    {f.found}"
            lines.append(line)
        counts = self.counts
        summary = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
        verdict = "VERIFIED" if self.ok else "FAILED"
        lines.append(f"{verdict}: {self.target} ({self.kind}): {summary}")
        return "\n".join(lines)
