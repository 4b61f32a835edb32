"""provenance.base.untrusted: the one way prov reads files, JSON and base64 an attacker wrote."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.errors import ConfigError, UsageError
from provenance.base import untrusted
from provenance.errors import UntrustedInputError


def test_read_regular_reads_a_file_within_its_limit(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"12345")
    assert untrusted.read_regular(tmp_path / "a", 5) == b"12345"
    with pytest.raises(UntrustedInputError, match="larger than 4 bytes"):
        untrusted.read_regular(tmp_path / "a", 4)


def test_read_regular_never_follows_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(b"s")
    (tmp_path / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(UntrustedInputError, match="symbolic link"):
        untrusted.read_regular(tmp_path / "link", 10)


def test_read_regular_does_not_block_on_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    done: list[str] = []

    def attempt() -> None:
        try:
            untrusted.read_regular(tmp_path / "fifo", 10)
        except UntrustedInputError as exc:
            done.append(str(exc))

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(5)
    assert done and "FIFO" in done[0]


def test_open_regular_follows_a_named_link_only_when_asked(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "file")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "to-fifo").symlink_to(tmp_path / "fifo")
    os.close(untrusted.open_regular(tmp_path / "link", follow=True))
    with pytest.raises(UntrustedInputError, match="symbolic link"):
        untrusted.open_regular(tmp_path / "link")
    with pytest.raises(UntrustedInputError, match="FIFO"):  # and the open did not hang
        untrusted.open_regular(tmp_path / "to-fifo", follow=True)


def test_read_regular_refuses_a_folder_and_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UntrustedInputError, match="folder"):
        untrusted.read_regular(tmp_path, 10)
    with pytest.raises(UntrustedInputError, match="missing"):
        untrusted.read_regular(tmp_path / "nope", 10)


def test_read_capped_refuses_past_its_cap_and_never_truncates() -> None:
    assert untrusted.read_capped(io.BytesIO(b"abc"), 3, what="x") == b"abc"
    with pytest.raises(UntrustedInputError, match=r"^x: larger than 2 bytes$"):
        untrusted.read_capped(io.BytesIO(b"abc"), 2, what="x")
    with pytest.raises(ConfigError, match=r"^x: larger than 1,024 bytes$"):
        untrusted.read_capped(io.BytesIO(b"a" * 2000), 1024, what="x", error=ConfigError)


def test_read_named_follows_a_link_and_reads_a_fifo_to_its_end(tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(b"s3cret\n")
    (tmp_path / "link").symlink_to(tmp_path / "secret")
    assert untrusted.read_named(tmp_path / "link", 64, error=ConfigError) == b"s3cret\n"
    os.mkfifo(tmp_path / "fifo")

    def write() -> None:
        with open(tmp_path / "fifo", "wb") as fh:
            fh.write(b"from a pipe")

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    assert untrusted.read_named(tmp_path / "fifo", 64, error=ConfigError) == b"from a pipe"
    thread.join(5)


def test_read_named_refuses_what_it_cannot_read_as_the_caller_says(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"a" * 65)
    with pytest.raises(UsageError, match="big: larger than 64 bytes"):
        untrusted.read_named(tmp_path / "big", 64, error=UsageError)
    with pytest.raises(ConfigError, match=r"^the file: cannot read \(No such file or directory\)$"):
        untrusted.read_named(tmp_path / "nope", 64, what="the file", error=ConfigError)
    with pytest.raises(ConfigError, match="cannot read"):
        untrusted.read_named(tmp_path, 64, error=ConfigError)


def test_is_regular_takes_a_file_itself_never_a_link_fifo_or_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "file")
    os.mkfifo(tmp_path / "fifo")
    assert untrusted.is_regular(tmp_path / "file")
    for other in ("link", "fifo", "missing", "file/below"):
        assert not untrusted.is_regular(tmp_path / other)
    assert not untrusted.is_regular(tmp_path)
    assert not untrusted.is_regular(str(tmp_path / "a\0b"))


def test_is_safe_name_takes_prov_names_that_stay_below_their_root() -> None:
    assert untrusted.is_safe_name("captures/2026/01/02/x/data-00000.warc.gz")
    assert untrusted.is_safe_name("/".join(["a"] * untrusted.MAX_NAME_PARTS))
    for bad in ("../x", "a/../../b", "./a", "a/.", "a//b", "/abs", "a/", "", "sp ace", "a\n",
                "caf\u00e9", "/".join(["a"] * (untrusted.MAX_NAME_PARTS + 1)),
                "a" * (untrusted.MAX_NAME_PART + 1)):
        assert not untrusted.is_safe_name(bad), bad


def test_load_json_refuses_deep_nesting_before_parsing() -> None:
    started = time.monotonic()
    with pytest.raises(UntrustedInputError, match="nested 100000 deep"):
        untrusted.load_json(b"[" * 100_000, what="x", limit=1 << 20)
    assert time.monotonic() - started < 5
    assert untrusted.load_json(b"[" * 64 + b"]" * 64, what="x", limit=1000) is not None


def test_load_json_refuses_duplicates_constants_and_size() -> None:
    with pytest.raises(UntrustedInputError, match="'a' twice"):
        untrusted.load_json(b'{"a":1,"a":2}', what="x", limit=100)
    with pytest.raises(UntrustedInputError, match="not JSON"):
        untrusted.load_json(b'{"a":NaN}', what="x", limit=100)
    with pytest.raises(UntrustedInputError, match="larger than 3 bytes"):
        untrusted.load_json(b"[1]  ", what="x", limit=3)
    with pytest.raises(UntrustedInputError, match="not JSON"):
        untrusted.load_json(b"\xff\xfe{", what="x", limit=100)


@given(st.recursive(st.none() | st.integers() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_json_depth_matches_the_parsed_document(doc: object) -> None:
    import json

    def depth(value: object) -> int:
        if isinstance(value, list):
            return 1 + max((depth(v) for v in value), default=0)
        if isinstance(value, dict):
            return 1 + max((depth(v) for v in value.values()), default=0)
        return 0

    assert untrusted.json_depth(json.dumps(doc).encode()) == depth(doc)


def test_b64decode_is_strict() -> None:
    assert untrusted.b64decode("AAE=", what="k") == b"\x00\x01"
    for bad in ("AAE", "AA E=", "é", "AAE=\n"):
        with pytest.raises(UntrustedInputError, match="not base64"):
            untrusted.b64decode(bad, what="k")
    with pytest.raises(UntrustedInputError, match="found int"):
        untrusted.b64decode(5, what="k")


def test_b64decode_takes_the_bytes_of_text_and_dsse_forms_only_on_request() -> None:
    assert untrusted.b64decode(b"AAE=", what="k") == b"\x00\x01"
    assert untrusted.b64decode("-_8=", what="k", dsse=True) == b"\xfb\xff"
    assert untrusted.b64decode("-_8", what="k", dsse=True) == b"\xfb\xff"
    assert untrusted.b64decode("+/8", what="k", dsse=True) == b"\xfb\xff"
    for bad in ("-_8=", "+/8", b"\xff\xfe"):
        with pytest.raises(UntrustedInputError, match=r"^k: not base64$"):
            untrusted.b64decode(bad, what="k")
    for bad in ("AA E", "A", "AAE=\n", "\u0661\u0662\u0663\u0664"):
        with pytest.raises(UntrustedInputError, match=r"^k: not base64$"):
            untrusted.b64decode(bad, what="k", dsse=True)


def test_iter_tree_is_iterative_and_follows_no_link(tmp_path: Path) -> None:
    deep = tmp_path
    for _ in range(1500):  # deeper than the recursion limit and than PATH_MAX allows to name
        deep = deep / "d"
        try:
            deep.mkdir()
        except OSError:  # ENAMETOOLONG: deep enough
            break
    (tmp_path / "f").write_bytes(b"")
    (tmp_path / "l").symlink_to(tmp_path)
    os.mkfifo(tmp_path / "p")
    entries = list(untrusted.iter_tree(tmp_path, max_depth=8))
    kinds = {e.rel: e.kind for e in entries}
    assert kinds["f"] == "file" and kinds["l"] == "symlink" and kinds["p"] == "other"
    assert kinds["/".join(["d"] * 8)] == "too-deep"
    assert len(entries) == 3 + 8


def test_a_quiet_folder_yields_only_its_links_and_odd_entries(tmp_path: Path) -> None:
    quiet = tmp_path / "q"
    (quiet / "sub").mkdir(parents=True)
    for name in ("b", "a", "c"):
        (quiet / name).write_bytes(b"")
    (quiet / "z").symlink_to(tmp_path)
    (quiet / "y").symlink_to(quiet / "a")
    os.mkfifo(quiet / "x")
    entries = list(untrusted.iter_tree(tmp_path, quiet=lambda rel: rel == "q"))
    assert [(e.rel, e.kind) for e in entries] == [
        ("q", "dir"), ("q/x", "other"), ("q/y", "symlink"), ("q/z", "symlink")]
    assert sorted(untrusted.iter_names(quiet)) == ["a", "b", "c", "sub", "x", "y", "z"]
    assert list(untrusted.iter_names(quiet / "z")) == [] == list(untrusted.iter_names(quiet / "a"))


def test_json_of_more_values_than_its_cap_allows_is_refused_unparsed() -> None:
    dense = b"[" + b"{}," * 3000 + b"{}]"  # 9 KB that would parse into 3,001 objects
    with pytest.raises(UntrustedInputError, match="JSON of 6,002 values"):
        untrusted.load_json(dense, what="x", limit=96 << 10)
    assert len(untrusted.load_json(dense, what="x", limit=1 << 20)) == 3001
