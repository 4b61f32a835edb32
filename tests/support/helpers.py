"""Running the real `prov` command in tests, against a throwaway PROV_HOME and case.

    env = prov_env(tmp_path)                 # or use the `prov_home` fixture (same values)
    case, key_pub = make_case(tmp_path)      # key "default" + case at tmp_path/"case"
    proc = run_prov("verify", str(case), "--trust", str(key_pub), env=env)

`prov_env(tmp_path)` matches what the `prov_home` fixture puts in `os.environ`, so a test
using that fixture may call `run_prov` without `env`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PASSPHRASE = "test-passphrase"
PROV_MAIN = "from provenance.cli import main; main()"


def prov_env(tmp_path: Path) -> dict[str, str]:
    """The environment for a `prov` run whose PROV_HOME is `tmp_path/prov-home`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PROV_CASE", "PROV_KEY_PASSPHRASE_FILE", "PROV_DEBUG")
    }
    env["PROV_HOME"] = str(tmp_path / "prov-home")
    env["PROV_KEY_PASSPHRASE"] = PASSPHRASE
    return env


def run_prov(
    *args: str,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Run `prov ARGS...` in a fresh interpreter; text output, never raises on exit code."""
    return subprocess.run(
        [sys.executable, "-c", PROV_MAIN, *args],
        env=env if env is not None else dict(os.environ),
        input=input.decode() if input is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def make_case(tmp_path: Path) -> tuple[Path, Path]:
    """Generate key "default" in `tmp_path/prov-home` and init `tmp_path/case` with it.

    Returns the case folder and the key's public PEM file (for `verify --trust`).
    """
    env = prov_env(tmp_path)
    Path(env["PROV_HOME"]).mkdir(exist_ok=True)
    for args in (("keys", "generate"), ("init", str(tmp_path / "case"), "--title", "test")):
        proc = run_prov(*args, env=env)
        assert proc.returncode == 0, f"prov {' '.join(args)}: {proc.stderr}"
    return tmp_path / "case", Path(env["PROV_HOME"]) / "keys" / "default.pub"
