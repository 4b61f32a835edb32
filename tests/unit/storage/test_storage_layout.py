"""provenance.storage.layout: the object names a case in a bucket may hold, and the ones it
refuses (a bucket is hostile input)."""

from __future__ import annotations

from provenance.storage.layout import entry_rel, folder_files, layout_file, unknown_names


def test_entry_names() -> None:
    assert entry_rel(7) == "custody/entries/00000000000000000007.json"
    assert layout_file(entry_rel(7)) and layout_file("case.json")
    assert not layout_file("custody/entries/7.json")


def test_unknown_names_say_why() -> None:
    current = ["case.json", entry_rel(0), "custody/entries/junk", "custody/log.jsonl",
               "elsewhere/x", "keys/notakey.pub", "captures/../case.json"]
    bad = unknown_names(current)
    assert set(bad) == {"custody/entries/junk", "custody/log.jsonl", "elsewhere/x",
                        "keys/notakey.pub", "captures/../case.json"}
    assert "never writes" in bad["captures/../case.json"]
    assert "not an entry object" in bad["custody/entries/junk"]
    assert "one object per entry" in bad["custody/log.jsonl"]


def test_a_layout_file_that_is_also_a_folder() -> None:
    current = ["case.json", "case.json/x"]
    assert "case.json/x" in unknown_names(current)
    assert list(folder_files(current)) == ["case.json"]
