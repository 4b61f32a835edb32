"""`prov extract` through the command line: bodies decoded as a browser would (or as
recorded), screenshots and DOMs of a real Chromium capture, verification before anything is
written (an altered WARC, index or seal, a founding key not trusted: exit 3, no file), no
overwrite, one-line errors, and flat memory for a large body."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import browsersite
import pytest
from helpers import make_case, prov_env, run_measured, run_prov
from servers import GZIP_PLAINTEXT, LocalServer, big_body, response
from test_browser import needs_chromium
from testca import TestCA

BIG = 120 << 20


@dataclass
class Extracting:
    case: Path
    env: dict[str, str]
    server: LocalServer
    capture_id: str
    public: Path

    def prov(self, *args: str | Path, case: Path | None = None) -> Any:
        return run_prov(*map(str, args), "--case", str(case or self.case), env=self.env)


def _snapshot(case: Path, env: dict[str, str], *args: str) -> str:
    proc = run_prov("snapshot", "--case", str(case), "--json", "--tsa", "none", *args, env=env,
                    timeout=180)
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)["captureId"])


@pytest.fixture(scope="module")
def ex(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Extracting]:
    tmp = tmp_path_factory.mktemp("extract")
    case, public = make_case(tmp)
    env = prov_env(tmp)
    with LocalServer() as server:
        server.add_route("/br", response(b"200 OK", [(b"Content-Encoding", b"deflate")],
                                         zlib.compress(b"deflated " * 1000)))
        capture_id = _snapshot(case, env, server.url("/gzip-chunked"), server.url("/page.html"),
                               server.url("/br"))
        yield Extracting(case, env, server, capture_id, public)


def _ok(proc: Any) -> str:
    assert proc.returncode == 0, proc.stderr
    return str(proc.stderr)


def _refused(proc: Any, code: int, out: Path) -> str:
    assert proc.returncode == code, proc.stderr
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}.*")), "a partial file was left"
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("prov: error: ") and len(lines) <= 2, proc.stderr
    return str(proc.stderr)


def test_body_is_transfer_and_content_decoded(ex: Extracting, tmp_path: Path) -> None:
    out = tmp_path / "body.txt"
    auditor = prov_env(tmp_path)  # a PROV_HOME that trusts no key
    said = _refused(run_prov("extract", ex.capture_id[:13], ex.server.url("/gzip-chunked"),
                             "--body", "-o", str(out), "--case", str(ex.case), env=auditor),
                    3, out)
    assert "no trust anchor" in said and "nothing extracted" in said
    said = _ok(run_prov("extract", ex.capture_id[:13], ex.server.url("/gzip-chunked"), "--body",
                        "-o", str(out), "--case", str(ex.case), "--allow-unanchored",
                        env=auditor))
    assert out.read_bytes() == GZIP_PLAINTEXT
    assert "transfer-decoded (chunked), content-decoded (gzip)" in said
    assert f"body of {ex.server.url('/gzip-chunked')} from capture {ex.capture_id} (200" in said
    assert "verified: seal signed by ed25519:" in said
    assert "trust anchored only in the case itself" in said  # allowed: said, not silent
    deflated = tmp_path / "deflated"
    said = _ok(run_prov("extract", ex.capture_id, ex.server.url("/br"), "--body", "-o",
                        str(deflated), "--trust", str(ex.public), "--case", str(ex.case),
                        env=auditor))
    assert deflated.read_bytes() == b"deflated " * 1000
    assert "content-decoded (deflate)" in said and "trust anchored" not in said


def test_raw_body_is_the_payload_as_recorded(ex: Extracting, tmp_path: Path) -> None:
    out = tmp_path / "raw"
    said = _ok(ex.prov("extract", ex.capture_id, ex.server.url("/gzip-chunked"), "--body",
                       "--raw", "-o", out))
    assert "as recorded" in said
    [row] = json.loads(ex.prov("captures", "find", ex.server.url("/gzip-chunked"),
                               "--json").stdout)
    assert row["payloadDigest"] == "sha256:" + hashlib.sha256(out.read_bytes()).hexdigest()
    assert gzip.decompress(_dechunk(out.read_bytes())) == GZIP_PLAINTEXT


def _dechunk(data: bytes) -> bytes:
    out = b""
    while True:
        size, _, data = data.partition(b"\r\n")
        if not int(size, 16):
            return out
        out, data = out + data[:int(size, 16)], data[int(size, 16) + 2:]


def test_output_is_never_overwritten(ex: Extracting, tmp_path: Path) -> None:
    out = tmp_path / "kept"
    out.write_bytes(b"mine")
    said = _refused_keeping(ex.prov("extract", ex.capture_id, ex.server.url("/page.html"),
                                    "--body", "-o", out), out)
    assert "already exists" in said


def _refused_keeping(proc: Any, out: Path) -> str:
    assert proc.returncode == 2, proc.stderr
    assert out.read_bytes() == b"mine"
    return str(proc.stderr)


@pytest.mark.parametrize(("args", "message"), [
    (("nothing-like-it", "/page.html", "--body"), "0 logged captures match"),
    (("", "/never-fetched", "--body"), "holds no response of"),
    (("", "/page.html", "--screenshot"), "holds no screenshot of"),
    (("", "/page.html"), "say what to extract"),
    (("", "/page.html", "--dom", "--raw"), "--raw goes with --body"),
])
def test_bad_requests_are_one_line_errors(ex: Extracting, tmp_path: Path,
                                          args: tuple[str, ...], message: str) -> None:
    out = tmp_path / "out"
    capture = args[0] or ex.capture_id
    proc = ex.prov("extract", capture, ex.server.url(args[1]), *args[2:], "-o", out)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not out.exists() and "Traceback" not in proc.stderr


def _copy(ex: Extracting, tmp_path: Path) -> tuple[Path, Path]:
    copy = tmp_path / "case"
    shutil.copytree(ex.case, copy)
    [folder] = [p.parent for p in copy.glob("captures/*/*/*/*/seal.dsse.json")]
    return copy, folder


def _rewrite_member(warc: Path, old: bytes, new: bytes) -> None:
    """Change bytes inside one record, recompressing its gzip member (the file stays a valid
    WARC; only the digests can tell)."""
    data, members = warc.read_bytes(), []
    while data:
        inflate = zlib.decompressobj(31)
        members.append(inflate.decompress(data) + inflate.flush())
        data = inflate.unused_data
    assert sum(old in m for m in members) == 1
    warc.write_bytes(b"".join(gzip.compress(m.replace(old, new)) for m in members))


@pytest.mark.parametrize("change", ["record", "index", "seal", "trust"])
def test_nothing_is_written_from_evidence_that_does_not_verify(
        ex: Extracting, tmp_path: Path, change: str) -> None:
    copy, folder = _copy(ex, tmp_path)
    args: list[str | Path] = []
    env = ex.env
    if change == "record":
        _rewrite_member(folder / "data-00000.warc.gz", b"<h1>Test page", b"<h1>Best page")
    elif change == "index":
        index = folder / "index.cdxj"
        index.write_bytes(index.read_bytes() + b"\n")
    elif change == "seal":
        seal = folder / "seal.dsse.json"
        seal.write_bytes(seal.read_bytes().replace(b'"payload":"', b'"payload":"e', 1))
    else:
        other = tmp_path / "other"
        other.mkdir()
        env = prov_env(other)  # an auditor who names another key as the founder
        Path(env["PROV_HOME"]).mkdir()
        assert run_prov("keys", "generate", "--name", "stranger", env=env).returncode == 0
        args = ["--trust", Path(env["PROV_HOME"]) / "keys" / "stranger.pub"]
    out = tmp_path / "page.html"
    said = _refused(run_prov("extract", ex.capture_id, ex.server.url("/page.html"), "--body",
                             "-o", str(out), *map(str, args), "--case", str(copy), env=env),
                    3, out)
    expected = {"record": "was altered after it was sealed", "index": "was altered after it",
                "seal": "changed after it was logged",
                "trust": "founded by a key none of your trust anchors"}[change]
    assert expected in said
    assert "nothing extracted" in said


def test_a_large_body_streams_in_flat_memory(tmp_path: Path) -> None:
    case, _ = make_case(tmp_path)
    env = prov_env(tmp_path)
    with LocalServer() as server:
        capture_id = _snapshot(case, env, server.url(f"/big?size={BIG}"))
        url = server.url(f"/big?size={BIG}")
    out = tmp_path / "big.bin"
    proc, peak = run_measured("extract", capture_id, url, "--body", "-o", str(out), "--case",
                              str(case), env=env)
    assert proc.returncode == 0, proc.stderr
    peak_mib = peak / (1 << 20)
    assert out.stat().st_size == BIG
    with out.open("rb") as fh:
        assert fh.read(1 << 20) == big_body(1 << 20)
    assert peak_mib < 110, f"extracting a {BIG >> 20} MiB body took {peak_mib:.0f} MiB"


@pytest.fixture(scope="module")
def app(test_ca: TestCA) -> Iterator[LocalServer]:
    with LocalServer(tls=test_ca) as server:
        yield browsersite.install(server)


@needs_chromium
def test_screenshot_and_dom_of_a_browser_capture(app: LocalServer, test_ca: TestCA,
                                                  tmp_path: Path) -> None:
    case, _ = make_case(tmp_path)
    env = prov_env(tmp_path)
    root = test_ca.write_root(tmp_path / "root.pem")
    url = app.url("/app")
    capture_id = _snapshot(case, env, "--browser", "--ca-file", str(root), "--scroll-steps",
                           "2", url)
    shot, dom = tmp_path / "page.png", tmp_path / "page.html"
    said = _ok(run_prov("extract", capture_id, url, "--screenshot", "-o", str(shot),
                        "--case", str(case), env=env))
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert f"screenshot of urn:fullPage:{url}" in said and "image/png" in said
    _ok(run_prov("extract", capture_id, url, "--dom", "-o", str(dom), "--case", str(case),
                 env=env))
    assert browsersite.CONTENT_TEXT in dom.read_text()  # put there by the page's script
