"""provenance.cli.demo: the demo site served on 127.0.0.1 with its redirects, and the one-byte
tamper that leaves a WARC readable."""

from __future__ import annotations

import gzip
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from exports import Built

from archive.warc.reader import WarcReader
from provenance.cli.demo import SITE, load_redirects, serve_site, tamper_one_byte


def test_the_site_serves_its_pages_and_redirects() -> None:
    rules = load_redirects(SITE)
    assert rules and all(code in (301, 302, 307, 308) for _, code in rules.values())
    source, (target, code) = next(iter(rules.items()))
    with serve_site() as base:
        assert base.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(base + "/article.html", timeout=10) as page:
            assert page.read() == (SITE / "article.html").read_bytes()
        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as caught:
            opener.open(base + source, timeout=10)
        assert caught.value.code == code
        assert caught.value.headers["Location"].endswith(target)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def test_load_redirects_skips_lines_not_of_three_fields(tmp_path: Path) -> None:
    (tmp_path / "_redirects").write_text("/a /b 301\n# comment\n/c /d\n")
    assert load_redirects(tmp_path) == {"/a": ("/b", 301)}
    assert load_redirects(tmp_path / "none") == {}


def test_tamper_one_byte_keeps_the_warc_readable(built: Built, tmp_path: Path) -> None:
    case = tmp_path / "case"
    shutil.copytree(built.case, case, symlinks=True)
    name, offset = tamper_one_byte(case, b"<title>")
    before, after = (built.case / name).read_bytes(), (case / name).read_bytes()
    assert before != after
    with open(case / name, "rb") as fh, open(built.case / name, "rb") as orig:
        assert len(list(WarcReader(fh))) == len(list(WarcReader(orig)))
    changed, original = gzip.decompress(after[offset:]), gzip.decompress(before[offset:])
    assert len(changed) == len(original)
    assert sum(a != b for a, b in zip(changed, original, strict=True)) == 1
    with pytest.raises(RuntimeError, match="no record to tamper with"):
        tamper_one_byte(case, b"no such bytes anywhere \x00\x01")
