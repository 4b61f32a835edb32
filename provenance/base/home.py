"""The operator's and auditor's own folder, ``$PROV_HOME`` (default: the user config dir).

It holds what a case can never be trusted to say about itself: the signing keys, the keys
this user trusts, the TSA roots this user trusts, and the checkpoints this user has seen.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import platformdirs

DEFAULT_KEY = "default"  # the signing key commands use unless --key names another
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def prov_home() -> Path:
    env = os.environ.get("PROV_HOME")
    return Path(env) if env else platformdirs.user_config_path("prov")


def keys_dir() -> Path:
    return prov_home() / "keys"


def trusted_dir() -> Path:
    return prov_home() / "trusted"


def tsa_roots_dir() -> Path:
    return prov_home() / "tsa-roots"


def seen_dir() -> Path:
    return prov_home() / "seen"


def config_path() -> Path:
    return prov_home() / "config.toml"


def ensure_private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def valid_name(name: str) -> bool:
    return bool(NAME_RE.fullmatch(name))
