"""provenance.custody.cases: a case is made only in a new or empty folder, with its init entry."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archive.errors import UsageError
from provenance.custody.cases import create_case
from provenance.custody.log import iter_log_entries
from provenance.signing.keys import SigningKey

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_new_case_holds_its_init_entry(tmp_path: Path) -> None:
    key = SigningKey.generate("founder")
    case = create_case(tmp_path / "case", "Title", key, NOW)
    info = json.loads((case.root / "case.json").read_bytes())
    assert info["title"] == "Title" and info["id"] == case.info.id
    [entry] = iter_log_entries(case)
    assert entry.action == "init" and entry.details["caseId"] == case.info.id
    assert entry.details["keyName"] == "founder"
    assert (case.root / "keys" / f"{key.key_id.split(':', 1)[1]}.pub").read_bytes() == \
        key.public.pem()


def test_a_folder_with_something_in_it_is_never_taken_over(tmp_path: Path) -> None:
    (tmp_path / "evidence.txt").write_text("already here")
    with pytest.raises(UsageError, match="not an empty folder"):
        create_case(tmp_path, "Title", SigningKey.generate("k"), NOW)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evidence.txt"]
