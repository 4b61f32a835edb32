"""provenance.capture.options: the capture options every caller builds, declared once
(``SnapshotOptions``) and checked once."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from archive.errors import UsageError
from provenance.capture.options import Flag, SnapshotOptions, capture_options


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


def test_snapshot_options_build_the_crawl_with_its_defaults() -> None:
    crawl = SnapshotOptions().crawl()
    assert (crawl.concurrency, crawl.per_host, crawl.retries, crawl.max_redirects) == (16, 4, 2, 10)
    assert (crawl.limits.timeout, crawl.limits.max_body) == (30.0, 1 << 30)
    assert SnapshotOptions().pages() is None and SnapshotOptions().posts() is None
    checked = SnapshotOptions(warc_size=1 << 20, concurrency=3).checked()
    assert (checked.warc_size, checked.crawl.concurrency, checked.browser) == (1 << 20, 3, None)


def test_every_field_is_spelled_for_the_command_line() -> None:
    for declared in fields(SnapshotOptions):
        spelled = declared.metadata["flag"]
        assert isinstance(spelled, Flag) and spelled.help.endswith("."), declared.name


@pytest.mark.parametrize(("wanted", "says"), [
    (SnapshotOptions(media_comments=True), "--media-comments needs --media"),
    (SnapshotOptions(storage_state=Path("state.json")), "--storage-state needs --browser"),
])
def test_an_option_without_its_pair_is_refused_as_asked(wanted: SnapshotOptions,
                                                         says: str) -> None:
    assert wanted.unpaired() == says
    with pytest.raises(UsageError, match=says):
        wanted.checked()
    with pytest.raises(LookupError, match=says):
        wanted.checked(refuse=LookupError)


def test_a_bad_value_is_named_before_a_missing_pair() -> None:
    with pytest.raises(UsageError, match="--timeout"):
        SnapshotOptions(timeout=0, media_comments=True).checked(refuse=LookupError)


def test_the_thin_builder_takes_the_same_names() -> None:
    assert capture_options(depth=3, scope="domain") == SnapshotOptions(depth=3,
                                                                        scope="domain").crawl()
    with pytest.raises(TypeError):
        capture_options(nonsense=1)
