"""WARC records made by hand for verify-warc tests: any digest algorithm and encoding, any
header left out, gzip per record or not, and the run of ``prov verify-warc``."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import subprocess
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from helpers import prov_command

HTTP_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n"
IDENTICAL = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"


def label(data: bytes, algo: str = "sha256", encoding: str = "base16") -> str:
    raw = hashlib.new(algo, data).digest()
    if encoding == "base16":
        return f"{algo}:{raw.hex()}"
    text = base64.b32encode(raw).decode()
    return f"{algo}:{text.rstrip('=') if encoding == 'base32-unpadded' else text}"


def new_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def record(warc_type: str, block: bytes, *, uri: str | None = None, algo: str = "sha256",
           encoding: str = "base16", payload: bytes | None = None, digests: bool = True,
           record_id: str | None = None, date: str | None = "2024-03-04T12:00:00Z",
           extra: Iterable[tuple[str, str]] = (), drop: Iterable[str] = ()) -> bytes:
    """One complete record (``WARC/1.1`` through the closing CRLF CRLF)."""
    headers: list[tuple[str, str]] = [("WARC-Type", warc_type),
                                      ("WARC-Record-ID", record_id or new_id())]
    if date is not None:
        headers.append(("WARC-Date", date))
    if uri is not None:
        headers.append(("WARC-Target-URI", uri))
    headers += list(extra)
    if warc_type in ("response", "request", "revisit"):
        kind = "response" if warc_type != "request" else "request"
        headers.append(("Content-Type", f"application/http;msgtype={kind}"))
    if digests:
        headers.append(("WARC-Block-Digest", label(block, algo, encoding)))
        if payload is not None:
            headers.append(("WARC-Payload-Digest", label(payload, algo, encoding)))
    headers.append(("Content-Length", str(len(block))))
    dropped = {d.lower() for d in drop}
    lines = [f"{k}: {v}".encode() for k, v in headers if k.lower() not in dropped]
    return b"\r\n".join([b"WARC/1.1", *lines]) + b"\r\n\r\n" + block + b"\r\n\r\n"


def response(body: bytes, uri: str = "http://example.com/", **kw: Any) -> bytes:
    http = HTTP_HEAD % len(body) + body
    return record("response", http, uri=uri, payload=body, **kw)


def warcinfo(**kw: Any) -> bytes:
    return record("warcinfo", b"software: tests\r\nformat: WARC File Format 1.1\r\n", **kw)


def write(path: Path, records: Iterable[bytes], *, gz: bool = True) -> Path:
    data = b"".join(gzip.compress(r, mtime=0) if gz else r for r in records)
    path.write_bytes(data)
    return path


def verify_warc(*args: str | Path, home: Path | None = None) -> tuple[int, dict[str, Any]]:
    """Run ``prov verify-warc --json``: (exit code, report; {} when the file is no WARC)."""
    env = None
    if home is not None:
        import os

        env = {**os.environ, "PROV_HOME": str(home)}
    result = subprocess.run([*prov_command(), "verify-warc", "--json", *map(str, args)],
                            capture_output=True, text=True, timeout=120, check=False, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, 3, 4), (result.returncode, result.stderr)
    return result.returncode, json.loads(result.stdout) if result.stdout else {}


def failed(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["status"] == "fail"]


def checks(report: dict[str, Any], status: str = "fail") -> set[str]:
    return {f["check"] for f in report["findings"] if f["status"] == status}
