"""provenance.base.install: the hint installs an extra into this copy of prov, never another
distribution's."""

from __future__ import annotations

import shlex
from pathlib import Path

import provenance
from provenance.base.install import DISTRIBUTION, checkout_root, install_hint


def test_run_from_the_checkout_the_hint_is_an_editable_install() -> None:
    root = checkout_root()
    assert root == Path(provenance.__file__).resolve().parents[1]
    hint = install_hint("media")
    assert hint == f"pip install -e {shlex.quote(f'{root}[media]')}"
    assert shlex.split(hint)[-1] == f"{root}[media]"


def test_the_distribution_is_not_the_w3c_prov_library() -> None:
    assert DISTRIBUTION == "prov-evidence"
    pyproject = (Path(provenance.__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert f'name = "{DISTRIBUTION}"' in pyproject
