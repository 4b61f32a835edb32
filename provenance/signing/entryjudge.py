"""Judging custody log entries: one replay for a case's log, a package's lines and a proof.

Spec: docs/FORMATS.md, "Custody log" (each line a DSSE envelope over the RFC 8785 bytes of an
entry whose ``seq`` is its RFC 9162 leaf index) and docs/DESIGN.md, "Trust": the ``init`` entry
names and is signed by the founding key; each later entry must be signed by a key trusted at
that point of the log; ``key-trusted`` and ``transfer`` add a key, ``key-revoked`` removes one;
an ``accepted`` entry answers the pending ``transfer`` to its signer.

Threat (docs/SECURITY.md, "One judge for every log"): whoever writes a case, a package or a
proof file chooses every line and its order. Trust is therefore replayed by sequence number
alone: entries must come in strictly increasing ``seq`` (a package whose lines were reordered or
repeated cannot make a key trusted before the entry it signed), and every entry is judged by
the same rules whichever path read it (signature by a key trusted at its ``seq``, ``actor`` is
the signer, ``seq`` is the proven position, no second ``init``, ``prev`` sizes never go back,
an ``accepted`` only after a ``transfer`` to its signer). Each failure is a finding; the judge
never stops at the first one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from archive.errors import ProvError
from provenance.base.report import Report, Status
from provenance.base.untrusted import b64decode
from provenance.errors import StatementError, UntrustedInputError
from provenance.signing.dsse import Envelope, parse_envelope, signed_by, verify_envelope
from provenance.signing.keys import PublicKey
from provenance.signing.statements import CUSTODY_PAYLOAD, Entry
from provenance.signing.trust import Anchors

Keys = Mapping[str, PublicKey]
# the actions that change whom the log trusts: a package or a proof carries every one of them
TRUST_ACTIONS = ("init", "key-trusted", "key-revoked", "transfer", "accepted")


@dataclass(frozen=True)
class Judged:
    """One entry as the judge accepted it (``entry`` is None if its line was refused)."""

    seq: int
    entry: Entry | None
    trusted: dict[str, PublicKey]  # trusted when the entry was appended (shared, not copied)
    prev_in_order: bool = True  # prev.size within [largest earlier prev.size, seq]
    prev_new: bool = False  # prev names a later checkpoint than any earlier entry did


class EntryJudge:
    """Replays trust over entries given in increasing ``seq``; findings go to ``report``.

    ``entry_check`` names a refused line's finding (``log.entry`` in a case, ``package.entry``
    in a WACZ, ``disclosure.entry`` in a disclosure package, docs/FORMATS.md).

    ``defer``, when set, is handed each signature (key, signature, message) instead of it
    being checked here, and the replay goes on as if it verified: its owner must have every
    one checked and judge the log again, with ``defer`` unset, unless all of them verify
    (``provenance.verification.signatures``).
    """

    defer: Callable[[PublicKey, bytes, bytes], None] | None = None

    def __init__(self, report: Report, *, entry_check: str = "log.entry",
                 founding: Keys | None = None) -> None:
        self.report = report
        self.entry_check = entry_check
        self.founding: PublicKey | None = None
        self.last_seq = -1
        self.prev_max = 0
        self.judged = 0
        self.pending_transfer: tuple[int, str] | None = None
        self._keys: dict[str, PublicKey] = dict(founding or {})
        # the trusted key set after each change: (first seq it holds for, keys)
        self._versions: list[tuple[int, dict[str, PublicKey]]] = []
        if founding is not None:
            self._versions.append((0, self._keys))

    @property
    def trusted(self) -> dict[str, PublicKey]:
        """The keys trusted after the last entry judged."""
        return self._keys

    def named_keys(self) -> dict[str, PublicKey]:
        """Every key the judged entries named (founded, trusted, transferred to), revoked or
        not: what a case's ``keys/`` cache may hold."""
        named: dict[str, PublicKey] = {}
        for _, version in self._versions:
            named.update(version)
        return named

    def trusted_after(self, seq: int) -> dict[str, PublicKey]:
        """The keys trusted once every entry up to ``seq`` has been replayed."""
        keys: dict[str, PublicKey] = {}
        for start, version in self._versions:
            if start > seq:
                break
            keys = version
        return keys

    def judge(self, seq: int, line: bytes, what: str) -> Judged:
        """Judge the line at leaf index ``seq``; ``seq`` must exceed every earlier one."""
        add = self.report.add
        if seq <= self.last_seq:
            add("fail", "log.order", what, "entry out of sequence order (lines reordered or "
                "repeated): trust is replayed by sequence number",
                expected=f"> {self.last_seq}", found=str(seq))
            return Judged(seq, None, self._keys)
        self.last_seq = seq
        trusted = self._keys
        try:
            envelope = parse_envelope(line, what=what)
            if seq == 0:
                trusted = self._found(envelope, what)
            if self.defer is None:
                signer = verify_envelope(envelope, payload_type=CUSTODY_PAYLOAD,
                                         trusted=trusted, what=what)
            else:
                signer, key, signature, message = signed_by(
                    envelope, payload_type=CUSTODY_PAYLOAD, trusted=trusted, what=what)
                self.defer(key, signature, message)
            entry = Entry.parse(envelope.payload, what=what)
        except ProvError as exc:
            add("fail", self.entry_check, what, str(exc))
            if seq == 0:
                self._set(0, trusted)
            return Judged(seq, None, trusted)
        self.judged += 1
        in_order, new = self._check_fields(seq, entry, signer, what)
        updated = self._apply_trust(entry, trusted, what)
        if seq == 0 or updated is not trusted:
            self._set(seq, updated)
        return Judged(seq, entry, trusted, in_order, new)

    def _set(self, seq: int, keys: dict[str, PublicKey]) -> None:
        self._keys = keys
        self._versions.append((seq, keys))

    def _found(self, envelope: Envelope, what: str) -> dict[str, PublicKey]:
        """Entry 0 names the founding key, which must be the key that signs it."""
        entry = Entry.parse(envelope.payload, what=what)  # parsed only to find the key
        key = public_key(entry.details.get("publicKey"), what)
        if entry.action != "init" or key.key_id != entry.actor:
            self.report.add("fail", "log.init", what, "first entry is not an init entry "
                            "naming its own signing key")
        self.founding = key
        return {key.key_id: key}

    def _check_fields(self, seq: int, entry: Entry, signer: str, what: str) -> tuple[bool, bool]:
        add = self.report.add
        if entry.seq != seq:
            add("fail", "log.seq", what, "sequence number is not the entry's position",
                expected=str(seq), found=str(entry.seq))
        if entry.actor != signer:
            add("fail", "log.actor", what, "actor is not the key that signed the entry",
                expected=signer, found=entry.actor)
        if seq > 0 and entry.action == "init":
            add("fail", "log.init", what, "a second init entry")
        prev, prev_max = entry.prev, self.prev_max
        if prev.size > seq or prev.size < prev_max:
            add("fail", "log.prev", what, "prev names a checkpoint size out of order",
                expected=f"{prev_max}..{seq}", found=str(prev.size))
            return False, False
        self.prev_max = prev.size
        return True, prev.size > 0 and prev.size != prev_max

    def _apply_trust(self, entry: Entry, trusted: dict[str, PublicKey], what: str
                     ) -> dict[str, PublicKey]:
        if entry.action == "accepted":
            pending = self.pending_transfer
            if pending is None or pending[1] != entry.actor:
                self.report.add("fail", "custody.accepted", what,
                                "accepted entry without a transfer to its signer",
                                expected=pending[1] if pending else "a pending transfer",
                                found=entry.actor)
            self.pending_transfer = None
        if entry.action == "transfer":
            self.pending_transfer = (entry.seq, str(entry.details.get("to")))
        if entry.action in ("key-trusted", "transfer"):
            try:
                key = public_key(entry.details.get("publicKey"), what)
            except ProvError as exc:
                self.report.add("fail", "log.key", what, str(exc))
                return trusted
            return {**trusted, key.key_id: key}
        if entry.action == "key-revoked":
            revoked = str(entry.details.get("keyId"))
            return {k: v for k, v in trusted.items() if k != revoked}
        return trusted

    def check_anchor(self, anchors: Anchors, subject: str, holder: str) -> None:
        """Is the founding key one the verifier trusts? ``holder`` names the target's kind."""
        if self.founding is None:
            return
        verdict = judge_anchor(anchors, self.founding.key_id, holder)
        self.report.add(verdict.status, "trust.anchor", subject, verdict.message,
                        expected=verdict.expected,
                        found=None if verdict.status == "pass" else self.founding.key_id)


@dataclass(frozen=True)
class AnchorVerdict:
    status: Status
    message: str
    expected: str | None = None


ANCHOR_SOURCES = "--trust, --trust-id, $PROV_HOME/trusted"


def judge_anchor(anchors: Anchors, founding: str, holder: str) -> AnchorVerdict:
    """The one rule for every target (case, package, proof): a log is anchored when the
    verifier trusts its founding key; otherwise it fails, whether the verifier holds other
    anchors (then the target is someone else's) or none (then nothing outside the target
    vouches for it), unless the verifier allowed a target anchored only in itself."""
    if founding in anchors.ids:
        return AnchorVerdict("pass", f"founding key {founding} is trusted by this verifier")
    compare = f"compare the founding key {founding} out of band, then pass --trust-id"
    if anchors.allow_unanchored:
        why = "" if not anchors.ids else " (none of your trust anchors names its founding key)"
        return AnchorVerdict("warn", f"trust anchored only in the {holder} itself{why}: "
                             f"{compare}")
    if anchors.ids:
        return AnchorVerdict(
            "fail", f"the {holder} was founded by a key none of your trust anchors "
            f"({ANCHOR_SOURCES}) names: anyone can found and sign a {holder}; {compare}",
            expected=", ".join(sorted(anchors.ids)))
    return AnchorVerdict(
        "fail", f"no trust anchor: nothing outside the {holder} vouches for its founding "
        f"key; {compare} (or `prov keys trust KEY.pub`); --allow-unanchored accepts a "
        f"{holder} anchored only in itself", expected=f"a key you trust ({ANCHOR_SOURCES})")


def public_key(value: object, what: str) -> PublicKey:
    """The Ed25519 key an entry's ``publicKey`` names (standard base64 of 32 raw bytes)."""
    try:
        raw = b64decode(value, what=f"{what}: publicKey")
    except UntrustedInputError as exc:
        raise StatementError(str(exc)) from None
    if len(raw) != 32:
        raise StatementError(f"{what}: publicKey is not a 32-byte Ed25519 key")
    return PublicKey(raw)
