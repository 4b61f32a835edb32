"""provenance.verification.proofs: an inclusion proof of one log entry checks offline against
the verifier's anchors, and nothing in it is believed otherwise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from exports import Built

from archive.errors import IntegrityError
from provenance import api
from provenance.custody.case import Case
from provenance.errors import InclusionProofError
from provenance.signing.keys import SigningKey
from provenance.signing.trust import Anchors
from provenance.verification.proofs import SCHEMA, verify_inclusion_doc


def proof(built: Built, index: int = 1) -> dict[str, Any]:
    doc = api.prove_entry(Case.open(built.case), index, None)
    assert doc["schema"] == SCHEMA
    return doc


def check(doc: dict[str, Any], anchors: Anchors) -> Any:
    return verify_inclusion_doc(json.dumps(doc).encode(), anchors=anchors, held=None)


def test_a_proof_checks_against_the_founding_key(built: Built) -> None:
    result = check(proof(built), Anchors.collect([built.pub], [], target=None))
    assert result.index == 1
    assert result.tree_size >= 2
    assert result.messages


def test_an_unknown_key_proves_nothing(
    built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = proof(built)
    monkeypatch.setenv("PROV_HOME", str(tmp_path))  # an auditor who trusts only a stranger
    stranger = Anchors.collect([], [SigningKey.generate("s").key_id], target=None)
    with pytest.raises(IntegrityError):
        check(doc, stranger)


def test_a_changed_audit_path_fails(built: Built) -> None:
    doc = proof(built)
    paths = [k for k, v in doc.items() if isinstance(v, list) and v and isinstance(v[0], str)]
    assert paths, doc.keys()
    hashes = doc[paths[0]]
    hashes[0] = ("0" if hashes[0][0] != "0" else "1") + hashes[0][1:]
    with pytest.raises(IntegrityError, match="computed root"):
        check(doc, Anchors.collect([built.pub], [], target=None))


def test_not_a_proof_is_refused(built: Built) -> None:
    anchors = Anchors.collect([built.pub], [], target=None)
    for raw in (b"[]", b'{"schema": "other"}', b"not json"):
        with pytest.raises(InclusionProofError):
            verify_inclusion_doc(raw, anchors=anchors, held=None)
