"""Imports at the top (issue 16, "No circles, enforced"): an import inside a function hides a
dependency from the reader and from lint-imports, so every one that remains in `provenance`
and `archive` says why on the line above: `# deferred: ...` (start-up time, e.g. of
`prov verify`, or an order that must hold) or `# optional: ...` (a package that may not be
installed). A run of imports one after another needs the comment once, above the first.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("provenance", "archive")
REASONS = ("# deferred:", "# optional:")
Import = ast.Import | ast.ImportFrom


def _groups(body: list[ast.stmt]) -> Iterator[list[Import]]:
    run: list[Import] = []
    for stmt in body:
        if isinstance(stmt, Import):
            run.append(stmt)
            continue
        if run:
            yield run
            run = []
    if run:
        yield run


def _local_groups(node: ast.AST, inside: bool) -> Iterator[list[Import]]:
    for field in ("body", "orelse", "finalbody", "handlers", "cases"):
        stmts = getattr(node, field, None)
        if isinstance(stmts, list) and inside:
            yield from _groups([s for s in stmts if isinstance(s, ast.stmt)])
    for child in ast.iter_child_nodes(node):
        function = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        yield from _local_groups(child, inside or function)


def unexplained(source: str, name: str) -> list[str]:
    """`name:line` of each function-local import without a reason on the line above."""
    lines = source.splitlines()
    bad = []
    for group in _local_groups(ast.parse(source, name), False):
        first = group[0].lineno
        above = lines[first - 2].strip() if first > 1 else ""
        if not above.startswith(REASONS):
            bad.append(f"{name}:{first}")
    return bad


def test_every_function_local_import_says_why() -> None:
    bad = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            bad += unexplained(path.read_text(encoding="utf-8"), name)
    assert not bad, ("imports inside functions without a `# deferred:` or `# optional:` "
                     "comment on the line above (move them to the top): " + ", ".join(bad))


def test_the_rule_sees_an_unexplained_import_and_accepts_a_reason() -> None:
    source = '''
import os

def a():
    import json
    return json

def b():
    # deferred: start-up of prov verify
    import json
    from pathlib import Path
    return json, Path

def c():
    try:
        # optional: yt-dlp
        import yt_dlp
    except ImportError:
        import json
    return yt_dlp

class D:
    def e(self):
        if self:
            from x import y
'''
    assert unexplained(source, "m.py") == ["m.py:5", "m.py:19", "m.py:25"]
