"""Tests mirror the code (issue 16): every module of `provenance` and `archive` is imported
directly by at least one unit test, and test files can be told apart by name.

A module counts as tested when a file `tests/unit/**/test_*.py` imports it by its full name
(`import a.b.c`, `from a.b.c import x` or `from a.b import c`); importing its package or a
module that uses it does not count. Packages (`__init__.py`) hold only a docstring or
re-exports and are left out. Put a new module's tests in `tests/unit/<package>/test_<module>.py`
(`tests/unit/archive/` for every `archive` module), naming the file after the package as well
when its basename is already taken (`test_media_capture.py`): there are no `__init__.py` files
under tests/, so pytest needs every test file's basename to be unique.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("provenance", "archive")


def code_modules() -> set[str]:
    modules = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if path.name != "__init__.py":
                modules.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return modules


def imported_by(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def unit_test_files() -> list[Path]:
    return sorted((ROOT / "tests" / "unit").rglob("test_*.py"))


def untested_modules() -> set[str]:
    modules = code_modules()
    for path in unit_test_files():
        modules -= imported_by(path)
    return modules


def test_every_module_has_a_unit_test_importing_it() -> None:
    missing = sorted(untested_modules())
    assert not missing, "modules no unit test imports directly: " + ", ".join(missing)


def test_the_rule_sees_a_module_imported_directly_and_only_so() -> None:
    modules = code_modules()
    assert "provenance.custody.merkle" in modules
    assert "provenance.custody" not in modules  # a package, not a module
    here = imported_by(Path(__file__))
    assert "ast" in here and "pathlib.Path" in here
    assert not any(name.startswith(PACKAGES) for name in here)


def test_test_file_basenames_are_unique() -> None:
    names = Counter(path.name for path in (ROOT / "tests").rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
