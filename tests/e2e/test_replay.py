"""`prov replay` with the real pywb (2.10) on 127.0.0.1: a page changed between two captures
replays each capture with its own content, a revisit with its original's payload, and never a
resource of another capture; a WACZ replays the same way, and pywb's own `wb-manager` loads
prov's WACZ; a case that fails verify is refused unless --unverified; Ctrl-C stops (exit 0).
"""

from __future__ import annotations

import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from helpers import PROV_MAIN, make_case, prov_env, run_prov
from scheduling import schedule_run, write_sources

pytest.importorskip("pywb", reason="prov replay needs pywb (the replay extra)")

BIN = Path(sys.executable).parent
EXIT_OK, EXIT_USAGE, EXIT_INTEGRITY, EXIT_CONFIG = 0, 2, 3, 6
ONE = b"<!DOCTYPE html>\n<html><body><h1>I will not accept</h1></body></html>\n"
TWO = b"<!DOCTYPE html>\n<html><body><h1>I accept</h1></body></html>\n"
EXTRA = b"only in the first capture\n"


class _Site(BaseHTTPRequestHandler):
    pages: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.pages.get(self.path)
        self.send_response(200 if body is not None else 404)
        body = body if body is not None else b"not here\n"
        self.send_header("Content-Type", "text/html" if self.path.endswith(".html")
                         else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Captured:
    root: Path
    case: Path
    pub: Path
    page: str
    extra: str
    ids: list[str]  # capture ids, in order: ONE (+ EXTRA), TWO, TWO again (a revisit)

    @property
    def env(self) -> dict[str, str]:
        return prov_env(self.root)


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Captured]:
    root = tmp_path_factory.mktemp("replay")
    case, pub = make_case(root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    page, extra = f"{base}/post.html", f"{base}/extra.txt"
    sources = write_sources(root, [{"url": page}])
    try:
        for body, urls in ((ONE, [page, extra]), (TWO, [page]), (TWO, None)):
            _Site.pages = {"/post.html": body, "/extra.txt": EXTRA}
            proc = (run_prov("snapshot", "--case", str(case), "--tsa", "none", *urls,
                             env=prov_env(root)) if urls is not None else  # dedup: a revisit
                    schedule_run(prov_env(root), sources, case, "--all", "--tsa", "none"))
            assert proc.returncode == EXIT_OK, proc.stderr
            time.sleep(1.1)  # pywb's timestamps are whole seconds
    finally:
        server.shutdown()
        server.server_close()
    ids = sorted(p.name for p in case.glob("captures/*/*/*/*"))  # UUIDv7: in time order
    yield Captured(root, case, pub, page, extra, ids)


class Replay:
    """`prov replay ARGS --port 0` running; its printed URLs."""

    def __init__(self, args: list[str], env: dict[str, str], expect: int) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", PROV_MAIN, "replay", *args,
                                      "--port", "0"], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        self.urls = self._read_urls(expect)

    def _read_urls(self, expect: int) -> list[str]:
        lines: queue.Queue[str] = queue.Queue()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.put(line.strip())

        threading.Thread(target=read, daemon=True).start()
        urls: list[str] = []
        deadline = time.monotonic() + 120
        while len(urls) < expect and time.monotonic() < deadline:
            try:
                urls.append(lines.get(timeout=1))
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
        assert len(urls) == expect, f"printed {urls}; stderr: {self.stop()[1]}"
        return urls

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:  # a loaded machine can take a while to stop pywb and its warcserver
            _, err = self.proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError(f"prov replay did not stop on Ctrl-C within 90 s: {err}") from None
        return self.proc.returncode, err


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def identity(url: str, original: str | None = None) -> str:
    """The printed replay URL with pywb's `id_` modifier (the archived bytes, unrewritten),
    of ``original`` instead of the page if given, in the same collection and time."""
    scheme, _, host, collection, ts, page = url.split("/", 5)
    return f"{scheme}//{host}/{collection}/{ts}id_/{original or page}"


def pages_of(urls: list[str], page: str) -> list[str]:
    return [u for u in urls if u.endswith("/" + page)]


def test_each_capture_replays_its_own_page(captured: Captured) -> None:
    replay = Replay([str(captured.case), "--trust", str(captured.pub)], captured.env, 4)
    try:
        pages = pages_of(replay.urls, captured.page)
        assert [u.split("/")[3] for u in pages] == captured.ids  # a collection per capture
        third = next(captured.case.glob(f"captures/*/*/*/{captured.ids[2]}/index.cdxj"))
        assert "warc/revisit" in third.read_text()  # its payload is in the second capture
        assert identity(replay.urls[1]).endswith(captured.extra)  # the first's other seed
        bodies = [fetch(identity(u)) for u in pages]
        assert bodies == [(200, ONE), (200, TWO), (200, TWO)]  # the third is a revisit
        status, framed = fetch(pages[0])  # what a person opens: pywb's frame
        assert status == 200 and b"wb_frame.js" in framed
        assert fetch(identity(pages[0], captured.extra)) == (200, EXTRA)
        # the second capture did not fetch extra.txt: pywb must not fill it in from the first
        assert fetch(identity(pages[1], captured.extra))[0] == 404
    finally:
        code, err = replay.stop()
    assert code == EXIT_OK, err
    assert "stopped" in err


def test_capture_option_serves_one_capture(captured: Captured) -> None:
    env = {**captured.env, "PROV_CASE": str(captured.case)}  # no TARGET: the case of $PROV_CASE
    replay = Replay(["--capture", captured.ids[1][:13]], env, 1)
    try:
        assert fetch(identity(replay.urls[0])) == (200, TWO)
        other = replay.urls[0].replace(captured.ids[1], captured.ids[0])
        assert fetch(identity(other))[0] == 404  # no such collection
    finally:
        code, _ = replay.stop()
    assert code == EXIT_OK


def test_ctrl_c_stops_and_frees_the_port(captured: Captured, tmp_path: Path) -> None:
    env = {**captured.env, "TMPDIR": str(tmp_path)}
    replay = Replay([str(captured.case)], env, 4)
    port = int(replay.urls[0].split("/")[2].rsplit(":", 1)[1])
    assert any(p.name.startswith("prov-replay-") for p in tmp_path.iterdir())
    code, err = replay.stop()
    assert code == EXIT_OK, err
    assert "Traceback" not in err
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert not any(p.name.startswith("prov-replay-") for p in tmp_path.iterdir())


def test_sigterm_stops_too(captured: Captured) -> None:
    replay = Replay([str(captured.case)], captured.env, 4)
    replay.proc.terminate()
    code, err = replay.stop()
    assert code == EXIT_OK, err


def test_pywb_goes_when_prov_is_killed(captured: Captured) -> None:
    replay = Replay([str(captured.case)], captured.env, 4)
    port = int(replay.urls[0].split("/")[2].rsplit(":", 1)[1])
    assert fetch(identity(pages_of(replay.urls, captured.page)[0]))[0] == 200
    replay.proc.kill()  # SIGKILL: prov stops nothing itself
    replay.proc.communicate(timeout=30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"pywb still listens on port {port} after prov was killed")


def _tampered(captured: Captured, dest: Path) -> Path:
    shutil.copytree(captured.case, dest)
    warc = next(dest.glob(f"captures/*/*/*/{captured.ids[1]}/data-00000.warc.gz"))
    data = bytearray(warc.read_bytes())
    data[len(data) // 2] ^= 0x01
    warc.write_bytes(bytes(data))
    return dest


def test_a_case_that_fails_verify_is_refused(captured: Captured, tmp_path: Path) -> None:
    case = _tampered(captured, tmp_path / "case")
    proc = run_prov("replay", str(case), "--port", "0", env=captured.env, timeout=120)
    assert proc.returncode == EXIT_INTEGRITY, proc.stderr
    assert proc.stdout == ""
    assert "refusing to serve" in proc.stderr and "--unverified" in proc.stderr


def test_unverified_serves_and_says_so(captured: Captured, tmp_path: Path) -> None:
    case = _tampered(captured, tmp_path / "case")
    replay = Replay([str(case), "--unverified", "--capture", captured.ids[0]], captured.env, 2)
    try:
        assert fetch(identity(replay.urls[0])) == (200, ONE)
    finally:
        code, err = replay.stop()
    assert code == EXIT_OK
    assert "WARNING: --unverified" in err and "NOT verified" in err


def test_bad_options(captured: Captured) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        proc = run_prov("replay", str(captured.case), "--port", port, env=captured.env)
    assert proc.returncode == EXIT_CONFIG, proc.stderr
    assert f"cannot listen on 127.0.0.1 port {port}" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_prov("replay", str(captured.case), "--bind", "localhost", env=captured.env)
    assert proc.returncode == EXIT_USAGE and "not an IP address" in proc.stderr
    proc = run_prov("replay", str(captured.case), "--port", "0", "--capture", "ffff",
                    env=captured.env)
    assert proc.returncode == EXIT_USAGE and "0 captures match" in proc.stderr
    proc = run_prov("replay", str(captured.root / "nothing"), env=captured.env)
    assert proc.returncode == 4, proc.stderr


@pytest.fixture(scope="module")
def wacz(captured: Captured) -> Path:
    out = captured.root / "case.wacz"
    proc = run_prov("export", "wacz", "--case", str(captured.case), "--tsa", "none",
                    "-o", str(out), env=captured.env, timeout=120)
    assert proc.returncode == EXIT_OK, proc.stderr
    return out


def test_a_wacz_replays_each_capture(captured: Captured, wacz: Path) -> None:
    replay = Replay([str(wacz), "--trust", str(captured.pub)], captured.env, 4)
    try:
        pages = pages_of(replay.urls, captured.page)
        assert [u.split("/")[3] for u in pages] == captured.ids
        assert [fetch(identity(u)) for u in pages] == [(200, ONE), (200, TWO), (200, TWO)]
        assert fetch(identity(pages[1], captured.extra))[0] == 404
    finally:
        code, err = replay.stop()
    assert code == EXIT_OK, err


def test_pywb_itself_loads_the_wacz(captured: Captured, wacz: Path, tmp_path: Path) -> None:
    """`wb-manager add --unpack-wacz` takes prov's index (it looked for *.cdx, *.cdx.gz and
    found none in indexes/index.cdxj), and pywb's `wayback` replays both versions."""
    run = {"cwd": tmp_path, "capture_output": True, "text": True, "timeout": 120}
    for args in (["init", "evidence"], ["add", "--unpack-wacz", "evidence", str(wacz)]):
        proc = subprocess.run([str(BIN / "wb-manager"), *args], check=False, **run)  # type: ignore[call-overload]
        assert proc.returncode == 0, proc.stderr
        assert "does not contain any indices" not in proc.stderr
    index = (tmp_path / "collections" / "evidence" / "indexes" / "index.cdxj").read_text()
    assert index.count(captured.page) == 3 and "application/json" not in index
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    wayback = subprocess.Popen([str(BIN / "wayback"), "-b", "127.0.0.1", "-p", str(port)],
                               cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        stamps = sorted(line.split()[1] for line in index.splitlines()
                        if f'"url": "{captured.page}"' in line)
        got = []
        for ts in stamps[:2]:
            url = f"http://127.0.0.1:{port}/evidence/{ts}id_/{captured.page}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    got.append(fetch(url))
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
        assert got == [(200, ONE), (200, TWO)]
    finally:
        wayback.terminate()
        wayback.wait(30)


def test_old_wacz_index_name_still_verifies(captured: Captured, tmp_path: Path) -> None:
    """Exports before the rename named the index indexes/index.cdxj: they still verify."""
    out = tmp_path / "old.wacz"
    old_name = "from provenance.exports import wacz; wacz.INDEX_MEMBER = 'indexes/index.cdxj'; "
    proc = subprocess.run([sys.executable, "-c", old_name + PROV_MAIN, "export", "wacz",
                           "--case", str(captured.case), "--tsa", "none", "-o", str(out)],
                          env=captured.env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == EXIT_OK, proc.stderr
    with zipfile.ZipFile(out) as zf:
        assert "indexes/index.cdxj" in zf.namelist()
    proc = run_prov("verify", str(out), "--trust", str(captured.pub), env=captured.env,
                    timeout=120)
    assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr


def test_pywb_missing_is_a_configuration_error(captured: Captured) -> None:
    no_pywb = "import sys; sys.modules['pywb'] = None; "  # as if not installed
    proc = subprocess.run([sys.executable, "-c", no_pywb + PROV_MAIN, "replay",
                           str(captured.case), "--port", "0"], env=captured.env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == EXIT_CONFIG, proc.stderr
    assert "needs pywb" in proc.stderr and "[replay]" in proc.stderr
