"""provenance.watch.sources: the sources file, checked, with the line of the first bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive.errors import ConfigError
from provenance.capture.options import SnapshotOptions
from provenance.watch.sources import MAX_DEPTH, MAX_FILE, load_sources, parse_interval

GOOD = """
[[source]]
url = "https://a.test/news"
interval = "15m"
tags = ["news"]

[[source]]
url = "https://b.test/"
interval = " 2d "
browser = true
"""


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "sources.toml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize(("text", "seconds"), [("15m", 900), ("1h", 3600), ("2w", 1209600)])
def test_intervals(text: str, seconds: int) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["0m", "15", "1y", "-1h", "1.5h", 15, None])
def test_bad_intervals(text: object) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_interval(text)


def test_a_good_file(tmp_path: Path) -> None:
    first, second = load_sources(write(tmp_path, GOOD))
    assert (first.url, first.seconds, first.tags, first.line) == (
        "https://a.test/news",
        900,
        ("news",),
        2,
    )
    assert (second.browser, second.seconds, second.line) == (True, 2 * 86400, 7)
    assert first.group != second.group


def test_a_source_is_snapshotted_with_the_options_it_sets(tmp_path: Path) -> None:
    text = '[defaults]\nrequisites = true\n' + GOOD
    first, second = load_sources(write(tmp_path, text))
    assert first.options() == SnapshotOptions(requisites=True)
    assert second.options() == SnapshotOptions(requisites=True, browser=True)
    assert first.options().crawl().requisites


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("depth = 9", f"depth must be a whole number from 0 to {MAX_DEPTH}"),
        ("browser = 1", "browser must be true or false"),
        ('tags = "x"', "tags must be a list of strings"),
        ('interval = "soon"', "is not a duration"),
    ],
)
def test_a_bad_value_names_its_line(tmp_path: Path, extra: str, message: str) -> None:
    text = (
        GOOD
        + '\n[[source]]\nurl = "https://c.test/"\n'
        + (extra if "interval" in extra else 'interval = "1h"\n' + extra)
        + "\n"
    )
    with pytest.raises(ConfigError, match=message) as caught:
        load_sources(write(tmp_path, text))
    line = text.splitlines().index(extra) + 1
    assert f"sources.toml:{line}: source 3: " in str(caught.value)


def test_files_that_are_not_a_sources_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_sources(write(tmp_path, "[[source]\n"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_sources(write(tmp_path, b"\xff\xfe"))
    with pytest.raises(ConfigError, match="larger than"):
        load_sources(write(tmp_path, b"#" * (MAX_FILE + 1)))
    with pytest.raises(ConfigError, match="cannot read"):
        load_sources(tmp_path / "missing.toml")
