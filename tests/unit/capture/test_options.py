"""provenance.capture.options: the capture options every caller builds, checked once."""

from __future__ import annotations

import pytest

from archive.errors import UsageError
from provenance.capture.options import capture_options


def test_values_reach_the_options() -> None:
    options = capture_options(timeout=5.0, max_body=1024, requisites=True, depth=2,
                              include=("a",), exclude=("b",))
    assert options.limits.timeout == 5.0 and options.limits.max_body == 1024
    assert (options.requisites, options.depth, options.include, options.exclude) == (
        True, 2, ("a",), ("b",))
    assert options.limits.user_agent.startswith("prov/")


@pytest.mark.parametrize("bad", [{"timeout": 0}, {"max_body": -1}, {"concurrency": 0},
                                 {"delay": -1.0}, {"depth": -1}, {"scope": "galaxy"},
                                 {"via": "gopher://proxy:70"}])
def test_a_bad_value_is_a_usage_error(bad: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        capture_options(**bad)  # type: ignore[arg-type]
