"""provenance.custody.signers: names that cannot stand in a cosignature are refused before
anything is written."""

from __future__ import annotations

import pytest

from provenance.custody.signers import check_cosigner_name
from provenance.errors import RefusedEntryError


@pytest.mark.parametrize("name", ["Auditor-B", "audit.example/b", "x"])
def test_names_a_note_can_carry(name: str) -> None:
    check_cosigner_name(name)


@pytest.mark.parametrize("name", ["", "two words", "a+b", "tab\there", "new\nline"])
def test_names_a_note_cannot_carry(name: str) -> None:
    with pytest.raises(RefusedEntryError, match="cannot go in a cosignature"):
        check_cosigner_name(name)
