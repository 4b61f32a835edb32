"""provenance.errors: every class a caller may catch is listed with the exit code it carries,
and the codes are those the README documents."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from archive import errors as roots
from archive.errors import ExitCode, ProvError
from archive.http import codings, via
from provenance import errors

LISTED = re.compile(r"``(\w+)`` \(exit (\d)[):]")
README = Path(__file__).resolve().parents[2] / "README.md"


def _classes(module: object) -> dict[str, type[ProvError]]:
    return {name: cls for name, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, ProvError) and cls.__module__ == module.__name__  # type: ignore[attr-defined]
            and cls is not ProvError and not name.startswith("_")}


def test_the_docstring_lists_every_class_with_its_exit_code() -> None:
    listed = {name: int(code) for name, code in LISTED.findall(errors.__doc__ or "")}
    found = {**_classes(roots), **_classes(errors), **_classes(codings), **_classes(via)}
    assert set(listed) == set(found)
    assert {name: int(cls.exit_code) for name, cls in found.items()} == listed


def test_the_readme_documents_each_exit_code() -> None:
    table = README.read_text(encoding="utf-8").split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = [int(code) for code in re.findall(r"^\| (\d) \|", table, re.MULTILINE)]
    assert documented == [int(code) for code in ExitCode]
