"""provenance.replay.child: the real pywb on a socket bound here, serving a capture written
with warcio; it ignores SIGINT, stops on SIGTERM, and stops by itself when the parent it was
given is not (or no longer) its parent; pywb's per-lookup log stays quiet."""

from __future__ import annotations

import io
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from provenance.replay import child
from provenance.replay.wayback import Prepared, prepare_wacz

pytest.importorskip("pywb", reason="the replay extra")

CAPTURE = "01a24731-baaf-7d74-bcc3-6d630d1d2ea9"
PAGE = "https://example.org/post"
BODY = b"<html><body>the post</body></html>"


@pytest.fixture
def prepared(tmp_path: Path) -> Prepared:
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True, warc_version="WARC/1.1")
    headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html"),
                                          ("Content-Length", str(len(BODY)))],
                               protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(
        PAGE, "response", payload=io.BytesIO(BODY), http_headers=headers,
        warc_headers_dict={"WARC-Date": "2026-01-01T00:00:00Z"}))
    wacz = tmp_path / "one.wacz"
    with zipfile.ZipFile(wacz, "w") as zf:
        zf.writestr(f"archive/{CAPTURE}-0.warc.gz", out.getvalue())
    (tmp_path / "work").mkdir()
    return prepare_wacz(wacz, [], tmp_path / "work")


def _start(prepared: Prepared, parent: int) -> tuple[subprocess.Popen[bytes], int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    with listener:
        proc = subprocess.Popen(
            [sys.executable, "-m", child.__name__, str(listener.fileno()),
             str(prepared.config_path), str(parent)],
            pass_fds=(listener.fileno(),), cwd=prepared.folder, stderr=subprocess.PIPE)
        return proc, listener.getsockname()[1]


def test_serves_the_capture_and_stops_on_sigterm_not_sigint(prepared: Prepared) -> None:
    import os

    proc, port = _start(prepared, os.getpid())
    try:
        url = f"http://127.0.0.1:{port}/{CAPTURE}/20260101000000id_/{PAGE}"
        with urllib.request.urlopen(url, timeout=60) as answer:
            assert answer.read() == BODY
        proc.send_signal(signal.SIGINT)  # Ctrl-C is prov's to handle
        time.sleep(1)
        assert proc.poll() is None
        proc.terminate()
        assert proc.wait(30) == -signal.SIGTERM
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=30)
    assert b"Traceback" not in err
    assert b"postreq" not in err  # pywb's warcserver logs each lookup unless quieted


def test_stops_when_the_given_parent_is_not_its_parent(prepared: Prepared) -> None:
    proc, _ = _start(prepared, 1)  # as after prov was killed: the orphan's parent changed
    try:
        assert proc.wait(60) == 0
    finally:
        proc.kill()
        proc.communicate(timeout=30)

