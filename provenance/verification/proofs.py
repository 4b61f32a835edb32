"""Portable proofs about a custody log (RFC 9162 section 2.1.3 and 2.1.4).

An inclusion proof file (``prov/inclusion-proof/v1``) carries one log line, its index, the
audit path to the root of a signed checkpoint, the checkpoint itself, the log's trust lines
(``init``, ``key-trusted``, ``key-revoked``, ``transfer``, ``accepted`` up to the checkpoint,
each with its own audit path) and optionally a consistency proof from an earlier checkpoint
the auditor holds. Anyone can check it with the log's founding public key and nothing else
from the case.

Threat: the proof file is written by whoever hands it over. The entry is judged by
``provenance.signing.entryjudge`` exactly as in a case: trust replayed in sequence order from
the ``init`` line, the entry signed by a key trusted at its index, its ``seq`` its index, its actor
its signer; the checkpoint must be signed by a key trusted at its size.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from archive.errors import IntegrityError, ProvError, UsageError
from provenance.base.report import Report
from provenance.base.untrusted import b64decode, load_json
from provenance.custody import merkle
from provenance.custody.checkpoint import Checkpoint, read_unverified, verify_checkpoint
from provenance.errors import InclusionProofError
from provenance.signing.entryjudge import EntryJudge, judge_anchor
from provenance.signing.keys import PublicKey
from provenance.signing.trust import Anchors

SCHEMA = "prov/inclusion-proof/v1"
MAX_PROOF_FILE = 4 << 20
MAX_PATH = 64  # hashes in an audit path: one per level of a 2**64 tree


def build_inclusion(tree: merkle.Leaves, index: int, line: bytes, checkpoint_note: bytes,
                    since: Checkpoint | None = None,
                    trust: Iterable[tuple[int, bytes]] = ()) -> dict[str, Any]:
    """The proof document for entry ``index`` (its ``line``) in ``tree``, against the
    checkpoint ``checkpoint_note`` (which must cover it); ``trust`` gives the log's trust
    lines (seq, line), of which those the checkpoint covers are carried."""
    checkpoint = read_unverified(checkpoint_note, what="checkpoint")
    size = checkpoint.size
    if not 0 <= index < size:
        raise UsageError(f"entry {index} is not covered by the checkpoint of size {size}")
    if merkle.leaf_hash(line) != tree.range_root(index, index + 1):
        raise IntegrityError(f"entry {index} differs from the tree cache; run `prov verify`")
    hashes = merkle.Prefix(tree, size)
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "origin": checkpoint.origin,
        "index": index,
        "treeSize": size,
        "entry": base64.b64encode(line).decode(),
        "inclusion": [h.hex() for h in merkle.inclusion_proof(index, hashes)],
        "checkpoint": checkpoint_note.decode(),
        "trust": [{"index": seq, "entry": base64.b64encode(text).decode(),
                   "inclusion": [h.hex() for h in merkle.inclusion_proof(seq, hashes)]}
                  for seq, text in trust if seq < size and seq != index],
    }
    if since is not None:
        if since.size > size:
            raise UsageError(f"--since checkpoint (size {since.size}) is newer than the log's")
        doc["consistency"] = {
            "fromSize": since.size,
            "proof": [h.hex() for h in merkle.consistency_proof(since.size, hashes)],
        }
    return doc


@dataclass(frozen=True)
class ProofResult:
    index: int
    tree_size: int
    entry: bytes
    messages: tuple[str, ...]
    warnings: tuple[str, ...] = ()  # what holds only with --allow-unanchored


def verify_inclusion_doc(raw: bytes, *, anchors: Anchors,
                         held: Checkpoint | None) -> ProofResult:
    """Check a proof file; raise ``IntegrityError`` naming the first thing that fails.

    Nothing in a proof is believed unless a signature checks under a key the verifier's
    anchors lead to: the entry and the checkpoint are always judged (a proof that carries no
    ``init`` line and meets a verifier without keys proves nothing, and fails), and the log's
    founding key goes through the same anchor rule as a case's (``entryjudge.judge_anchor``).
    """
    try:
        doc = load_json(raw, what="proof file", limit=MAX_PROOF_FILE)
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            given = doc.get("schema") if isinstance(doc, dict) else None
            raise ValueError(f"its schema is {str(given)[:80]!r}, not {SCHEMA!r}" if given else
                             f"it has no schema {SCHEMA!r}")
        index, size = _count(doc["index"]), _count(doc["treeSize"])
        entry = b64decode(doc["entry"], what="entry")
        path = _path(doc["inclusion"])
        note = str(doc["checkpoint"]).encode()
        trust = [(_count(t["index"]), b64decode(t["entry"], what="trust entry"),
                  _path(t["inclusion"])) for t in doc.get("trust", [])]
    except (ProvError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InclusionProofError(f"proof file: not a prov inclusion proof ({exc})") from None
    checkpoint = read_unverified(note, what="checkpoint")
    if checkpoint.size != size:
        raise InclusionProofError(f"proof is for size {size}, its checkpoint for {checkpoint.size}")
    # the checkpoint's signer may be a key the log added: trust is replayed first
    signer, trusted, founding = _judge(index, entry, trust, anchors)
    checkpoint, key = verify_checkpoint(note, str(doc["origin"]), trusted, what="checkpoint")
    merkle.verify_inclusion(merkle.leaf_hash(entry), index, size, path, checkpoint.root)
    for seq, line, audit in trust:
        merkle.verify_inclusion(merkle.leaf_hash(line), seq, size, audit, checkpoint.root)
    messages = [f"checkpoint signed by {key.key_id}",
                f"entry {index} is in the log of size {size}",
                f"entry {index} signed by {signer}, a key the log trusts at that point"]
    warnings: list[str] = []
    if founding is not None:
        verdict = judge_anchor(anchors, founding, "proof")
        if verdict.status == "fail":
            raise InclusionProofError(verdict.message, check="trust.anchor")
        if verdict.status == "warn":
            warnings.append(verdict.message)
    if held is not None:
        messages.append(_check_held(doc, checkpoint, held))
    return ProofResult(index, size, entry, tuple(messages), tuple(warnings))


def _judge(index: int, entry: bytes, trust: Sequence[tuple[int, bytes, list[bytes]]],
           anchors: Anchors) -> tuple[str, list[PublicKey], str | None]:
    """Replay the trust lines and the entry in sequence order
    (``provenance.signing.entryjudge``); return the entry's signer, the keys trusted
    after the last line and the founding key id (None when the proof carries no ``init``
    line and the verifier's own keys stood in for it)."""
    report = Report("proof file", "proof")
    lines = sorted([*((seq, line) for seq, line, _ in trust), (index, entry)],
                   key=lambda p: p[0])
    founding = None
    if lines[0][0] != 0:  # without the init line the verifier's keys stand in for it
        if not anchors.keys:
            raise InclusionProofError(
                "the proof carries no init line and you hold no public key to check its "
                "signatures with: nothing in it could be checked", check="trust.anchor",
                hint="pass --trust KEY.pub (the log's founding key)")
        founding = {k.key_id: k for k in anchors.keys}
    judge = EntryJudge(report, founding=founding)
    signer = ""
    for seq, line in lines:
        judged = judge.judge(seq, line, f"entry {seq}")
        if seq == index and judged.entry is not None:
            signer = judged.entry.actor
    failed = [f for f in report.findings if f.status == "fail"]
    if failed:
        first = failed[0]
        text = first.message if first.message.startswith(first.subject) else (
            f"{first.subject}: {first.message}")
        raise InclusionProofError(text + (
            f" (expected {first.expected}, found {first.found})" if first.found else ""))
    founder = judge.founding.key_id if judge.founding is not None else None
    return signer, list(judge.trusted.values()), founder


def _count(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{str(value)[:20]!r} is not an entry count")
    return value


def _path(value: object) -> list[bytes]:
    if not isinstance(value, list) or len(value) > MAX_PATH or not all(
            isinstance(h, str) and len(h) == 64 for h in value):
        raise ValueError("an audit path is not a list of sha256 hex digests")
    return [bytes.fromhex(h) for h in value]


def _check_held(doc: dict[str, Any], checkpoint: Checkpoint, held: Checkpoint) -> str:
    if held.origin != checkpoint.origin:
        raise IntegrityError(f"your checkpoint is of {held.origin}, the proof of "
                             f"{checkpoint.origin}")
    if held.size == checkpoint.size:
        if held.root != checkpoint.root:
            raise IntegrityError("your checkpoint and the proof's have the same size and "
                                 "different roots: the log forked")
        return "the proof's checkpoint is the one you hold"
    consistency = doc.get("consistency")
    if not isinstance(consistency, dict) or consistency.get("fromSize") != held.size:
        raise IntegrityError(f"the proof carries no consistency proof from size {held.size}; "
                             "ask for one made with --since")
    try:
        proof = _path(consistency.get("proof"))
    except ValueError as exc:
        raise IntegrityError(f"proof file: consistency: {exc}") from None
    merkle.verify_consistency(held.size, checkpoint.size, held.root, checkpoint.root, proof)
    return f"the log grew consistently from your size {held.size} to {checkpoint.size}"
