"""provenance.signing.passphrases: the warning for a weak new passphrase."""

from __future__ import annotations

import pytest

from provenance.signing.passphrases import MIN_LENGTH, weakness


@pytest.mark.parametrize(
    "secret", [b"password", b"Password123!", b"correcthorsebatterystaple", b"provenance2024"]
)
def test_common_choices_and_their_variants(secret: bytes) -> None:
    assert weakness(secret) == "it is one of the most common choices"


def test_the_key_name_is_a_weak_passphrase_for_that_key() -> None:
    assert weakness(b"Casework-2024") is None
    assert weakness(b"Casework-2024", key_name="casework") == "it is one of the most common choices"


def test_length_boundary() -> None:
    assert weakness(b"x7#kQ2!mzR9") == f"it has 11 characters, fewer than {MIN_LENGTH}"
    assert weakness(b"x7#kQ2!mzR9p") is None


def test_few_distinct_characters() -> None:
    assert weakness(b"abababababababab") == "it uses only 2 different characters"
    assert weakness(b"abcdeabcdeab") is None


def test_bytes_that_are_not_utf8_do_not_raise() -> None:
    assert weakness(b"\xff\xfe" * 8) is not None
