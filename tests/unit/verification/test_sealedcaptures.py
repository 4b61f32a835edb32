"""provenance.verification.sealedcaptures: a capture folder counts only with a trusted seal."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from provenance.custody.cases import create_case
from provenance.signing.keys import SigningKey
from provenance.verification.sealedcaptures import SealedCaptures, log_trusted_keys

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
FOLDER = "captures/2026/01/02/01a20798-1063-7304-9291-50670183a452"


def test_the_log_trusts_its_founder(tmp_path: Path) -> None:
    key = SigningKey.generate("founder")
    case = create_case(tmp_path / "case", "t", key, NOW)
    assert set(log_trusted_keys(case)) == {key.key_id}


def test_a_folder_without_a_valid_seal_is_not_sealed(tmp_path: Path) -> None:
    key = SigningKey.generate("founder")
    case = create_case(tmp_path / "case", "t", key, NOW)
    sealed = SealedCaptures(case, {key.key_id: key.public}, lambda: {})
    assert sealed.seal(FOLDER) is None  # no folder at all
    folder = case.root / FOLDER
    folder.mkdir(parents=True)
    (folder / "seal.dsse.json").write_text('{"payloadType": "x", "payload": "", "signatures": []}')
    assert SealedCaptures(case, {key.key_id: key.public}, lambda: {}).seal(FOLDER) is None
