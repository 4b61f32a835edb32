"""Unlock once: a small per-user agent that holds one key's passphrase in memory for a while,
so signing commands stop asking for it (the way ssh-agent holds SSH keys).

``prov keys unlock --key NAME --for 30m`` checks the passphrase opens ``NAME.key``, then starts
the agent in a session of its own. It listens on the Unix socket
``$PROV_HOME/agent/NAME.sock`` (folder 0700, socket 0600), answers only processes of its own
user (``SO_PEERCRED``), and exits when its time is up or on ``prov keys lock``. Protocol: one
request line, ``get`` (the answer is the passphrase, then the agent closes the connection)
or ``stop``. The passphrase reaches the agent on its standard input, never in its arguments
or environment (``ps`` shows arguments to every user).

Risk (docs/SECURITY.md, "Unlocking a key for a while"): while the agent runs, any program
running as this user can ask it for the passphrase and sign as the operator; root can read
its memory. It is for a working session at one's own machine, not for cron (which reads
``PROV_KEY_PASSPHRASE_FILE``), and ``prov keys lock`` ends it early.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from archive.errors import ConfigError
from provenance.base import home
from provenance.base.untrusted import read_capped

MAX_SECONDS = 24 * 3600
MAX_SECRET = 64 << 10
CONNECT_TIMEOUT = 2.0
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes on Linux, the last one a NUL


def socket_path(name: str) -> Path:
    return home.prov_home() / "agent" / f"{name}.sock"


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def serve() -> None:
    """The agent's main: settings as one JSON line on stdin, then the passphrase to EOF;
    ``ready`` on stdout once it listens."""
    settings = json.loads(sys.stdin.buffer.readline(4096))
    secret = read_capped(sys.stdin.buffer, MAX_SECRET, what="the passphrase", error=ConfigError)
    path = Path(settings["socket"])
    deadline = time.monotonic() + float(settings["seconds"])
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        server.bind(str(path))
    finally:
        os.umask(old)
    server.listen(8)
    mine = path.stat().st_ino
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdout.close()
    try:
        while (left := deadline - time.monotonic()) > 0:
            server.settimeout(left)
            try:
                conn, _ = server.accept()
            except TimeoutError:
                break
            with conn:
                if _answer(conn, secret):
                    break
    finally:
        server.close()
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_ino == mine:  # not the socket of an agent started after it
                path.unlink()


def _answer(conn: socket.socket, secret: bytes) -> bool:
    """Serve one request; True when the agent should stop."""
    if _peer_uid(conn) != os.getuid():
        return False
    conn.settimeout(CONNECT_TIMEOUT)
    try:
        request = conn.recv(16).strip()
        if request == b"get":
            conn.sendall(secret)
        return request == b"stop"
    except OSError:
        return False


def start(name: str, secret: bytes, seconds: float) -> Path:
    """Start the agent for key ``name`` (replacing a running one); its socket's path."""
    if not 0 < seconds <= MAX_SECONDS:
        raise ConfigError(f"--for must be between 1 second and {MAX_SECONDS // 3600} hours")
    path = socket_path(name)
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise ConfigError(f"{path}: longer than the {MAX_SOCKET_PATH} bytes a Unix socket's "
                          "path may have", hint="set PROV_HOME to a shorter folder")
    stop(name)
    home.ensure_private_dir(path.parent)
    path.parent.chmod(0o700)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from provenance.signing.agent import serve; serve()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps({"socket": str(path), "seconds": seconds}).encode() + b"\n")
    proc.stdin.write(secret)
    proc.stdin.close()
    if proc.stdout.readline() != b"ready\n":
        proc.kill()
        raise ConfigError(f"the agent for key {name!r} did not start")
    proc.stdout.close()
    return path


def _request(name: str, request: bytes) -> bytes | None:
    path = socket_path(name)
    if not path.exists():
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(CONNECT_TIMEOUT)
            conn.connect(str(path))
            conn.sendall(request + b"\n")
            answer = b""
            while len(answer) <= MAX_SECRET and (piece := conn.recv(65536)):
                answer += piece
            return answer
    except OSError:  # a socket left by an agent that died: as if locked
        return None


def passphrase(name: str) -> bytes | None:
    """The passphrase the agent of key ``name`` holds, or None (no agent, or it expired)."""
    return _request(name, b"get") or None


def stop(name: str) -> bool:
    """Stop the agent of key ``name``; whether one was running."""
    running = _request(name, b"stop") is not None
    with contextlib.suppress(FileNotFoundError):
        socket_path(name).unlink()
    return running
