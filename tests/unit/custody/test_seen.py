"""provenance.custody.seen: the auditor's memory of checkpoints and tree heads, per origin."""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance.custody.seen import load_roots, load_seen, remember, remember_roots, seen_folder


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PROV_HOME", str(tmp_path))
    return tmp_path


def test_roots_round_trip_and_a_known_size_keeps_its_root(home: Path) -> None:
    assert load_roots("example.org/log") == {}
    remember_roots("example.org/log", {1: b"\x01" * 32, 5: b"\x05" * 32})
    remember_roots("example.org/log", {5: b"\xff" * 32, 9: b"\x09" * 32})
    assert load_roots("example.org/log") == {1: b"\x01" * 32, 5: b"\x05" * 32, 9: b"\x09" * 32}
    roots = home / "seen" / "example.org" / "log" / "roots"
    assert roots.read_text().splitlines()[0] == "1 " + "01" * 32


def test_lines_not_of_the_form_are_skipped(home: Path) -> None:
    folder = seen_folder("o")
    folder.mkdir(parents=True)
    (folder / "roots").write_text(f"3 {'ab' * 32}\n3 short\nx {'ab' * 32}\n4 {'AB' * 32}\n")
    assert load_roots("o") == {3: b"\xab" * 32}


@pytest.mark.parametrize("origin", ["..", "a/../b", "a b", "", "a//b", "/abs"])
def test_an_origin_that_cannot_name_a_folder_is_refused(origin: str) -> None:
    with pytest.raises(ValueError, match="cannot name a folder"):
        seen_folder(origin)


def test_remember_keeps_the_first_note_for_a_size(home: Path) -> None:
    first = remember("o", 7, b"first note")
    assert first == home / "seen" / "o" / f"{7:020d}.checkpoint"
    assert remember("o", 7, b"second note") == first
    assert first.read_bytes() == b"first note"
    assert load_seen("nothing-yet") == []
