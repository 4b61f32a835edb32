"""Judging the custody lines a package carries, without the case they came from.

A package (WACZ) holds some lines of a case's log, each with its RFC 9162 inclusion proof
(section 2.1.3.2) against a signed checkpoint. Trust is replayed from the ``init`` line
through the trust entries included (key-trusted, key-revoked, transfer), anchored outside
the package (``provenance.trust``); the checkpoint's note signature must be by a key trusted
at the end. Time-stamp tokens (RFC 3161) are judged with the verifier's TSA roots and the
package's chains as untrusted intermediates. Every outcome is a finding.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from cryptography import x509

from archive.errors import ProvError
from provenance import checkpoint as cp
from provenance import merkle, timefmt
from provenance.keys import PublicKey
from provenance.report import Report
from provenance.signing import parse_envelope, verify_envelope
from provenance.statements import CUSTODY_PAYLOAD, Entry
from provenance.timestamps import TokenCheck, UntrustedRootError, verify_stamp
from provenance.trust import Anchors
from provenance.tsatrust import TsaRoots


class PackageLog:
    """``kind`` names the findings: ``package.entries`` for a WACZ, ``disclosure.entries`` for a
    disclosure package (docs/FORMATS.md)."""

    def __init__(self, report: Report, anchors: Anchors, tsa_roots: TsaRoots,
                 certs: Sequence[x509.Certificate] = (), *, kind: str = "package") -> None:
        self.kind = kind
        self.report = report
        self.anchors = anchors
        self.tsa_roots = tsa_roots
        self.certs = list(certs)
        self.trusted: dict[str, PublicKey] = {}
        self.entries: list[Entry] = []

    def check_lines(self, lines: Sequence[bytes], proofs: Sequence[dict[str, Any]],
                    checkpoint: cp.Checkpoint, subject: str) -> None:
        """Prove each line into the checkpoint, replay trust, check each signature."""
        add = self.report.add
        if len(lines) != len(proofs):
            add("fail", f"{self.kind}.entries", subject, "log lines and proofs differ in number",
                expected=str(len(proofs)), found=str(len(lines)))
            return
        for line, item in zip(lines, proofs, strict=True):
            seq = int(item["seq"])
            what = f"{subject} entry {seq}"
            try:
                proof = [bytes.fromhex(h) for h in item["proof"]]
                merkle.verify_inclusion(merkle.leaf_hash(line), seq, checkpoint.size, proof,
                                        checkpoint.root)
                envelope = parse_envelope(line, what=what)
                if seq == 0:
                    self._found(Entry.parse(envelope.payload, what=what), what)
                verify_envelope(envelope, payload_type=CUSTODY_PAYLOAD, trusted=self.trusted,
                                what=what)
                entry = Entry.parse(envelope.payload, what=what)
            except (ProvError, ValueError, KeyError, TypeError) as exc:
                add("fail", f"{self.kind}.entry", what, str(exc))
                continue
            if entry.seq != seq:
                add("fail", "log.seq", what, "sequence number is not the proven position",
                    expected=str(seq), found=str(entry.seq))
            self._apply(entry)
            self.entries.append(entry)
        if lines and not self.report.findings_for(f"{self.kind}.entry"):
            add("pass", f"{self.kind}.entries", subject, f"{len(lines)} custody entries signed and "
                f"proven in the log of size {checkpoint.size}")

    def _found(self, entry: Entry, what: str) -> None:
        key = _key(entry.details.get("publicKey"))
        if entry.action != "init" or key.key_id != entry.actor:
            self.report.add("fail", "log.init", what, "entry 0 is not an init entry naming "
                            "its own signing key")
        self.trusted = {key.key_id: key}
        if key.key_id in self.anchors.ids:
            self.report.add("pass", "trust.anchor", what, f"founding key {key.key_id} trusted")
        elif self.anchors.explicit:
            self.report.add("fail", "trust.anchor", what, "founded by a key you did not trust",
                            expected=", ".join(sorted(self.anchors.ids)), found=key.key_id)
        else:
            self.report.add("warn", "trust.anchor", what, "trust anchored only in the package "
                            f"itself: compare the founding key {key.key_id} out of band, then "
                            "pass --trust-id")

    def _apply(self, entry: Entry) -> None:
        if entry.action in ("key-trusted", "transfer"):
            key = _key(entry.details.get("publicKey"))
            self.trusted = {**self.trusted, key.key_id: key}
        elif entry.action == "key-revoked":
            revoked = entry.details.get("keyId")
            self.trusted = {k: v for k, v in self.trusted.items() if k != revoked}

    def check_checkpoint(self, note: bytes, checkpoint: cp.Checkpoint, subject: str) -> None:
        try:
            cp.verify_checkpoint(note, checkpoint.origin, self.trusted.values(), what=subject)
        except ProvError as exc:
            self.report.add("fail", "checkpoint.signature", subject, str(exc))
            return
        self.report.add("pass", "checkpoint", subject,
                        f"signed checkpoint of size {checkpoint.size}")

    def token(self, subject: str, token: bytes, stamped: bytes, tsa: str) -> TokenCheck | None:
        """One RFC 3161 token over ``stamped``: pass if its root is trusted, else warn/fail."""
        try:
            check = verify_stamp(token, stamped, roots=self.tsa_roots.roots,
                                 untrusted=self.certs, require_trusted=False)
        except UntrustedRootError as exc:
            self.report.add("warn", "timestamp.root", subject, f"token from {tsa}: {exc}")
            return None
        except ProvError as exc:
            self.report.add("fail", "timestamp.token", subject, f"token from {tsa}: {exc}")
            return None
        when = timefmt.format_time(check.gen_time)
        if check.trusted:
            self.report.add("pass", "timestamp", subject, f"stamped {when} by "
                            f"{check.tsa_name}, root {check.root_fingerprint} (trusted)")
        else:
            self.report.add("warn", "timestamp.root", subject, f"stamped {when} by "
                            f"{check.tsa_name}, but its root {check.root_fingerprint} is not "
                            "trusted by this verifier (--tsa-root, or `prov tsa trust ROOT.pem`)")
        return check


def _key(value: object) -> PublicKey:
    try:
        raw = base64.b64decode(str(value), validate=True)
    except ValueError:  # binascii.Error, or a str that is not ASCII
        raise ProvError("publicKey is not base64") from None
    if len(raw) != 32:
        raise ProvError("publicKey is not a 32-byte Ed25519 key")
    return PublicKey(raw)
