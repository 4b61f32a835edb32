"""Running the real `prov` command in tests, against a throwaway PROV_HOME and case.

    env = prov_env(tmp_path)                 # or use the `prov_home` fixture (same values)
    case, key_pub = make_case(tmp_path)      # key "default" + case at tmp_path/"case"
    proc = run_prov("verify", str(case), "--trust", str(key_pub), env=env)

`prov_env(tmp_path)` matches what the `prov_home` fixture puts in `os.environ`, so a test
using that fixture may call `run_prov` without `env`.

Tests that keep their own home beside the case, and run the installed `prov` command the way
an operator would (its console script, stdin not a terminal), use the home form:

    checked(run_prov_at(home, "keys", "generate"))
    proc = run_prov_at(home, "verify", case, "--json", PROV_FAILPOINT="after-seal")

`run_prov_on_terminal` runs it with stderr on a pseudo-terminal, for what prov shows only
there (the progress display). Also here: `free_port()` (a port on 127.0.0.1 nothing listens
on) and `gzip_bomb()` (a small gzip member that inflates to many MiB of zeros).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

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
    *args: str | Path,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    timeout: float = 60.0,
    cwd: Path | None = None,
    command: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `prov ARGS...` (in a fresh interpreter, or `command`); text output, never raises
    on exit code. Without `input`, stdin is not a terminal when `command` is given."""
    return subprocess.run(
        [*(command or [sys.executable, "-c", PROV_MAIN]), *map(str, args)],
        env=env if env is not None else dict(os.environ),
        cwd=cwd,
        input=input.decode() if input is not None else None,
        stdin=subprocess.DEVNULL if input is None and command is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_prov_on_terminal(
    *args: str | Path, env: dict[str, str], timeout: float = 120.0, columns: int = 160
) -> tuple[subprocess.CompletedProcess[bytes], bytes]:
    """Run `prov ARGS...` with its stderr on a pseudo-terminal `columns` wide and stdout a
    pipe, as an operator's shell does with `prov ... > out`. Returns the run (stdout as bytes)
    and every byte written to the terminal, escapes included."""
    import fcntl
    import pty
    import termios
    import threading

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    drawn = bytearray()

    def read() -> None:  # while it runs: a full terminal buffer would block the writer
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every writer has closed its end
                return
            if not chunk:
                return
            drawn.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proc = subprocess.run([sys.executable, "-c", PROV_MAIN, *map(str, args)], env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=follower, timeout=timeout, check=False)
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    return proc, bytes(drawn)


def prov_command() -> list[str]:
    """The installed `prov` console script (beside this interpreter, else on PATH)."""
    script = Path(sys.executable).with_name("prov")
    found = str(script) if script.exists() else shutil.which("prov")
    assert found, "the prov command is not installed (pip install -e .)"
    return [found]


def home_env(home: Path, passphrase: str | None = PASSPHRASE, **extra: str) -> dict[str, str]:
    """The environment with no PROV_ variable but PROV_HOME=`home`, the key passphrase
    (`passphrase=None` leaves it unset) and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROV_")}
    env["PROV_HOME"] = str(home)
    if passphrase is not None:
        env["PROV_KEY_PASSPHRASE"] = passphrase
    env.update(extra)
    return env


def run_prov_at(
    home: Path,
    *args: str | Path,
    cwd: Path | None = None,
    passphrase: str | None = PASSPHRASE,
    **extra: str,
) -> subprocess.CompletedProcess[str]:
    """The installed `prov ARGS` with PROV_HOME=`home` (see `home_env`), stdin not a
    terminal."""
    return run_prov(
        *args,
        env=home_env(home, passphrase, **extra),
        cwd=cwd,
        timeout=120,
        command=prov_command(),
    )


def checked(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """`result`, asserted to be a success without a traceback."""
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


def log_entries(home: Path, case: Path) -> list[dict[str, Any]]:
    """The case's custody log, as `prov log show --json` gives it."""
    entries: list[dict[str, Any]] = json.loads(
        checked(run_prov_at(home, "log", "show", "--json", "--case", case)).stdout
    )
    return entries


def verify_report(proc: subprocess.CompletedProcess[str]) -> tuple[int, dict[str, Any]]:
    """The exit code and report of a `prov verify --json` run, asserted to be a verdict (0 or
    3) without a traceback or an internal error."""
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 3), (proc.returncode, proc.stderr)
    report: dict[str, Any] = json.loads(proc.stdout)
    return proc.returncode, report


def verify_at(home: Path, target: Path, *args: str | Path) -> tuple[int, dict[str, Any]]:
    """`prov verify TARGET --json ARGS` with PROV_HOME=`home` (`run_prov_at`)."""
    return verify_report(run_prov_at(home, "verify", target, "--json", *args))


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"


def gzip_bomb(mebibytes: int, *, prefix: bytes = b"", suffix: bytes = b"") -> bytes:
    """One gzip member of `prefix`, `mebibytes` MiB of zeros and `suffix`, built without
    compressing the zeros: after a full flush deflate's output no longer depends on earlier
    input, so one compressed MiB of zeros is repeated (1 GiB in about 0.3 s, about 1 MB)."""
    zeros = bytes(1 << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = comp.compress(prefix) + comp.flush(zlib.Z_FULL_FLUSH) if prefix else b""
    segment = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    assert segment == comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(prefix)
    for _ in range(mebibytes):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(suffix, crc)
    size = len(prefix) + (mebibytes << 20) + len(suffix)
    tail = comp.compress(suffix) + comp.flush(zlib.Z_FINISH)
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return GZIP_HEADER + head + segment * mebibytes + tail + trailer


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


MEASURE = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "with open(sys.argv[1], 'w') as fh:\n"
    "    fh.write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status) % 256)\n"
)


def run_measured(
    *args: str, env: dict[str, str], timeout: float = 300.0
) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run `prov ARGS...` like ``run_prov`` and return its peak resident memory in bytes.

    The peak is that one child's (``os.wait4`` gives its own rusage; ``RUSAGE_CHILDREN`` would
    be the largest of every process the test run ever waited for). Output goes through files,
    so nothing has to read pipes while the child is waited for."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as peak:
        # A small trampoline starts prov and waits for it: Linux folds the pre-exec address
        # space's high-water mark into a child's ru_maxrss, so prov forked straight from a
        # large pytest process would report pytest's size, not its own.
        proc = subprocess.Popen([sys.executable, "-c", MEASURE, peak.name, sys.executable, "-c",
                                 PROV_MAIN, *args], env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(proc.args, proc.returncode,
                                             out.read().decode(errors="replace"),
                                             err.read().decode(errors="replace"))
        text = peak.read().strip()
        maxrss = int(text) if text else 0
    return result, maxrss * 1024  # Linux reports kilobytes
