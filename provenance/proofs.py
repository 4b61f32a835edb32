"""Portable proofs about a custody log (RFC 9162 section 2.1.3 and 2.1.4).

An inclusion proof file (``prov/inclusion-proof/v1``) carries one log line, its index, the
audit path to the root of a signed checkpoint, the checkpoint itself, and optionally a
consistency proof from an earlier checkpoint the auditor holds. Anyone can check it with the
log's public key and nothing else from the case.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from archive.errors import IntegrityError, UsageError
from provenance import merkle
from provenance.checkpoint import Checkpoint, read_unverified, verify_checkpoint
from provenance.keys import PublicKey

SCHEMA = "prov/inclusion-proof/v1"
MAX_PROOF_FILE = 4 << 20


def build_inclusion(tree: merkle.Leaves, index: int, line: bytes, checkpoint_note: bytes,
                    since: Checkpoint | None = None) -> dict[str, Any]:
    """The proof document for entry ``index`` (its ``line``) in ``tree``, against the
    checkpoint ``checkpoint_note`` (which must cover it)."""
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


def verify_inclusion_doc(raw: bytes, *, keys: Sequence[PublicKey],
                         held: Checkpoint | None) -> ProofResult:
    """Check a proof file; raise ``IntegrityError`` naming the first thing that fails."""
    try:
        doc = json.loads(raw)
        if doc.get("schema") != SCHEMA:
            raise ValueError(f"schema is {doc.get('schema')!r}")
        index, size = int(doc["index"]), int(doc["treeSize"])
        entry = base64.b64decode(doc["entry"], validate=True)
        path = [bytes.fromhex(h) for h in doc["inclusion"]]
        note = str(doc["checkpoint"]).encode()
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise IntegrityError(f"proof file: not a prov inclusion proof ({exc})") from None
    messages = []
    if keys:
        checkpoint, key = verify_checkpoint(note, str(doc["origin"]), keys, what="checkpoint")
        messages.append(f"checkpoint signed by {key.key_id}")
    else:
        checkpoint = read_unverified(note, what="checkpoint")
        messages.append("checkpoint signature NOT checked (no --trust key given)")
    if checkpoint.size != size:
        raise IntegrityError(f"proof is for size {size}, its checkpoint for {checkpoint.size}")
    merkle.verify_inclusion(merkle.leaf_hash(entry), index, size, path, checkpoint.root)
    messages.append(f"entry {index} is in the log of size {size}")
    if held is not None:
        messages.append(_check_held(doc, checkpoint, held))
    return ProofResult(index, size, entry, tuple(messages))


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
    if not consistency or int(consistency["fromSize"]) != held.size:
        raise IntegrityError(f"the proof carries no consistency proof from size {held.size}; "
                             "ask for one made with --since")
    proof = [bytes.fromhex(h) for h in consistency["proof"]]
    merkle.verify_consistency(held.size, checkpoint.size, held.root, checkpoint.root, proof)
    return f"the log grew consistently from your size {held.size} to {checkpoint.size}"
