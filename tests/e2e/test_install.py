"""The distribution is `prov-evidence` (docs/DECISIONS.md, "Distribution name"), and every
install hint names it the way prov was installed: from this checkout `pip install -e
'CHECKOUT[extra]'`, from a wheel `pip install 'prov-evidence[extra]'` (never `prov[...]`,
which is an unrelated W3C PROV library on the package index)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from helpers import PROV_MAIN, prov_env, run_prov

ROOT = Path(__file__).resolve().parents[2]  # tests/e2e/ -> the checkout


def _shadow(tmp_path: Path, module: str) -> str:
    """A folder to put first on PYTHONPATH in which `import MODULE` fails."""
    folder = tmp_path / "shadow" / module
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(f"raise ImportError('No module named {module}')\n")
    return str(folder.parent)


def test_the_distribution_name_is_prov_evidence() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "prov-evidence"
    assert project["scripts"] == {"prov": "provenance.cli:main"}
    assert all(not d.startswith("prov[") for d in project["optional-dependencies"]["test"])


def test_from_a_checkout_the_s3_hint_installs_into_the_checkout(tmp_path: Path) -> None:
    env = prov_env(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([_shadow(tmp_path, "boto3"), str(ROOT)])
    proc = run_prov("verify", "s3://evidence-bucket/case", env=env)
    assert proc.returncode == 6, proc.stderr
    assert "cases in a bucket need the boto3 package" in proc.stderr
    assert f"pip install -e {shlex.quote(f'{ROOT}[s3]')}" in proc.stderr
    assert "prov[" not in proc.stderr and "Traceback" not in proc.stderr


def test_from_a_wheel_the_hint_names_the_distribution(tmp_path: Path) -> None:
    source = tmp_path / "source"  # setuptools builds in the tree: a copy keeps the checkout clean
    for name in ("provenance", "archive"):
        shutil.copytree(ROOT / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("*.whl")
    assert wheel.name.startswith("prov_evidence-")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        assert "Name: prov-evidence\n" in archive.read(metadata).decode()
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        assert "prov = provenance.cli:main" in archive.read(entry_points).decode()

    # installed into a folder of its own, away from the checkout (the other packages prov
    # needs come from this interpreter's site-packages, after it on the path)
    target = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         "--target", str(target), str(wheel)],
        capture_output=True, text=True, timeout=300, check=False)
    assert installed.returncode == 0, installed.stderr
    env = prov_env(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([_shadow(tmp_path, "boto3"), str(target)])
    proc = subprocess.run(
        [sys.executable, "-c", "import provenance; print(provenance.__file__); " + PROV_MAIN,
         "verify", "s3://evidence-bucket/case"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert proc.stdout.startswith(str(target)), proc.stdout  # the wheel's copy ran
    assert proc.returncode == 6, proc.stderr
    assert "pip install 'prov-evidence[s3]'" in proc.stderr
    assert "pip install -e" not in proc.stderr and "Traceback" not in proc.stderr
