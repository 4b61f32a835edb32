"""provenance.signing.trust and provenance.signing.anchorpaths: trust comes from outside the
target, never from a file inside it (by path, by symlink or by hard link)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from archive.errors import ConfigError, UsageError
from provenance.signing.anchorpaths import check_home, inside, linked_inside, named_file
from provenance.signing.keys import SigningKey
from provenance.signing.trust import Anchors, load_user_trusted, trust_user_key


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("PROV_HOME", str(folder))
    return folder


def pub_file(path: Path, name: str = "k") -> tuple[Path, str]:
    key = SigningKey.generate(name)
    path.write_bytes(key.public.pem())
    return path, key.key_id


def test_anchors_from_files_ids_and_the_user_store(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "case"
    target.mkdir()
    named, named_id = pub_file(tmp_path / "given.pub")
    stored = SigningKey.generate("s").public
    assert trust_user_key(stored) == trust_user_key(stored)  # idempotent
    other_id = SigningKey.generate("o").key_id
    anchors = Anchors.collect([named], [other_id], target=target)
    assert anchors.ids == {named_id, other_id, stored.key_id}
    assert {k.key_id for k in anchors.keys} == {named_id, stored.key_id}
    assert [k.key_id for k in load_user_trusted(target)] == [stored.key_id]


def test_a_bad_trust_id_is_a_usage_error(home: Path) -> None:
    with pytest.raises(UsageError, match="--trust-id"):
        Anchors.collect([], ["ed25519:nothex"], target=None)


def test_a_trust_file_inside_the_target_is_refused(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "case"
    target.mkdir()
    planted, _ = pub_file(target / "keys.pub")
    with pytest.raises(UsageError, match="inside the target"):
        Anchors.collect([planted], [], target=target)
    (tmp_path / "via-link.pub").symlink_to(planted)
    with pytest.raises(UsageError, match="inside the target"):
        named_file(tmp_path / "via-link.pub", target, "--trust")


def test_a_hard_link_to_a_file_of_the_target_is_found(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "case"
    (target / "deep" / "er").mkdir(parents=True)
    planted, _ = pub_file(target / "deep" / "er" / "k.pub")
    os.link(planted, tmp_path / "twin.pub")
    why = linked_inside(tmp_path / "twin.pub", target)
    assert why is not None and str(planted) in why
    with pytest.raises(UsageError, match="hard link"):
        named_file(tmp_path / "twin.pub", target, "--trust")
    alone, _ = pub_file(tmp_path / "alone.pub")
    assert linked_inside(alone, target) is None
    assert named_file(alone, target, "--trust") == alone


def test_an_empty_path_or_a_folder_names_no_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="empty path"):
        named_file("", None, "--trust")
    with pytest.raises(UsageError, match="found a folder"):
        named_file(tmp_path, None, "--trust")


def test_inside_resolves_links_and_dot_dot(tmp_path: Path) -> None:
    (tmp_path / "case" / "a").mkdir(parents=True)
    (tmp_path / "out").symlink_to(tmp_path / "case" / "a")
    assert inside(tmp_path / "out" / "x", tmp_path / "case")
    assert inside(tmp_path / "case", tmp_path / "case")
    assert not inside(tmp_path / "case" / ".." / "caseworks", tmp_path / "case")


def test_a_prov_home_inside_the_target_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "case"
    (target / "home").mkdir(parents=True)
    monkeypatch.setenv("PROV_HOME", str(target / "home"))
    with pytest.raises(ConfigError, match="inside the target"):
        check_home(target)
    with pytest.raises(ConfigError, match="inside the target"):
        load_user_trusted(target)
    monkeypatch.setenv("PROV_HOME", str(tmp_path / "elsewhere"))
    check_home(target)  # nothing raised
