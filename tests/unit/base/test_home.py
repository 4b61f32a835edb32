"""provenance.base.home: where the operator's own files live, and which key names are allowed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from provenance.base import home


def test_every_folder_is_under_prov_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROV_HOME", str(tmp_path))
    assert home.prov_home() == tmp_path
    assert home.keys_dir() == tmp_path / "keys"
    assert home.trusted_dir() == tmp_path / "trusted"
    assert home.tsa_roots_dir() == tmp_path / "tsa-roots"
    assert home.seen_dir() == tmp_path / "seen"
    assert home.config_path() == tmp_path / "config.toml"


def test_an_empty_prov_home_means_the_user_config_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROV_HOME", "")
    assert home.prov_home().name == "prov"
    assert home.prov_home() != Path()


def test_ensure_private_dir_makes_parents_owner_only(tmp_path: Path) -> None:
    made = home.ensure_private_dir(tmp_path / "a" / "b")
    assert made.is_dir()
    assert stat.S_IMODE(made.stat().st_mode) & 0o077 == 0
    assert home.ensure_private_dir(made) == made  # a second call is fine


@pytest.mark.parametrize("name", ["default", "a", "Key-2.old_1", "x" * 64])
def test_valid_names(name: str) -> None:
    assert home.valid_name(name)


@pytest.mark.parametrize(
    "name", ["", ".hidden", "-dash", "a/b", "../up", "a b", "x" * 65, "name\n", "ké"]
)
def test_invalid_names(name: str) -> None:
    assert not home.valid_name(name)
