"""provenance.custody.log: what its readers take from entries nothing has verified yet."""

from __future__ import annotations

import pytest

from provenance.custody.log import detail_count


@pytest.mark.parametrize("value", [0, 1, 2**70])
def test_a_count_is_a_non_negative_integer(value: int) -> None:
    assert detail_count(value) == value


@pytest.mark.parametrize("value", ["3", 1.5, float("inf"), [1], {"n": 1}, True, None, -1])
def test_anything_else_counts_as_nothing(value: object) -> None:
    assert detail_count(value) == 0
