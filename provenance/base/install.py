"""How to install an optional part of prov (a packaging "extra", PEP 508), said the way the
running copy was installed.

The distribution is ``prov-evidence`` (docs/DECISIONS.md, "Distribution name"): ``prov`` on
the package index is an unrelated W3C PROV library, so ``pip install 'prov[media]'`` would
install that library and not yt-dlp for this one. The command stays ``prov``; the import
packages stay ``provenance`` and ``archive``.

Threat: a hint that names the wrong distribution makes the user install someone else's code.
From a source checkout (an editable install, or ``PYTHONPATH``) the hint installs the extra
into that checkout (``pip install -e 'CHECKOUT[extra]'``), never a published copy over it;
from a wheel it names the distribution, which pip sees is installed and only adds the
extra's dependencies.
"""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path

DISTRIBUTION = "prov-evidence"


def checkout_root() -> Path | None:
    """The source tree this copy of prov runs from: the folder above the ``provenance``
    package whose ``pyproject.toml`` names this distribution; None when installed."""
    root = Path(__file__).resolve().parents[2]
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    name = project.get("project", {}).get("name")
    return root if name == DISTRIBUTION else None


def install_hint(extra: str) -> str:
    """The pip command that adds ``extra`` to this copy of prov."""
    root = checkout_root()
    if root is not None:
        return f"pip install -e {shlex.quote(f'{root}[{extra}]')}"
    return f"pip install '{DISTRIBUTION}[{extra}]'"
