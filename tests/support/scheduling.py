"""Helpers for the scheduling tests: a watched site on the test server, sources files, runs.

    site = WatchedSite(http_server)           # routes whose bytes a test changes between runs
    site.page("/post", "<p>Hello</p>", requisites=("/a.png",))
    sources = write_sources(tmp_path, [{"url": site.url("/post"), "requisites": True}])
    proc = schedule_run(env, sources, case, "--all")
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from helpers import run_prov
from servers import LocalServer, chunked, png_bytes, response

HTML = b"text/html; charset=utf-8"


def html_page(title: str, body: str, requisites: tuple[str, ...] = ()) -> bytes:
    links = "".join(
        f'<link rel="stylesheet" href="{u}">' if u.endswith(".css") else f'<img src="{u}">'
        for u in requisites)
    return (f"<!DOCTYPE html><html><head><title>{title}</title>{links}"
            f"<script>var tracking = 1;</script></head><body>{body}</body></html>").encode()


class WatchedSite:
    """Pages served by the real test server whose content a test changes between runs."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server

    def url(self, path: str) -> str:
        return self.server.url(path)

    def page(self, path: str, body: str, *, title: str = "A watched page",
             requisites: tuple[str, ...] = (), status: bytes = b"200 OK",
             chunk: bool = False) -> None:
        data = html_page(title, body, requisites)
        self.raw(path, status, [(b"Content-Type", HTML)], data, chunk=chunk)

    def raw(self, path: str, status: bytes, headers: list[tuple[bytes, bytes]], body: bytes,
            *, chunk: bool = False) -> None:
        if chunk:
            pieces = [body[i:i + 100] for i in range(0, len(body), 100)]
            data = response(status, [*headers, (b"Transfer-Encoding", b"chunked")],
                            chunked(pieces), length=False)
        else:
            data = response(status, headers, body)
        self.server.add_route(path, data)

    def image(self, path: str, shade: int) -> None:
        png = png_bytes(8, 8, lambda x, y: (shade, x * 30, y * 30))
        self.raw(path, b"200 OK", [(b"Content-Type", b"image/png")], png)

    def redirect(self, path: str, location: str) -> None:
        self.raw(path, b"302 Found", [(b"Location", location.encode())], b"")

    def gone(self, path: str, status: bytes = b"404 Not Found") -> None:
        self.page(path, "<h1>Not here</h1>", title="Error", status=status)


def write_sources(folder: Path, sources: list[dict[str, Any]], *,
                  defaults: dict[str, Any] | None = None, name: str = "sources.toml") -> Path:
    lines = []
    if defaults:
        lines.append("[defaults]")
        lines += [f"{k} = {_toml(v)}" for k, v in defaults.items()]
        lines.append("")
    for source in sources:
        lines.append("[[source]]")
        lines += [f"{k} = {_toml(v)}" for k, v in source.items()]
        lines.append("")
    path = folder / name
    path.write_text("\n".join(lines))
    return path


def _toml(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


def schedule_run(env: dict[str, str], sources: Path, case: Path,
                 *extra: str) -> subprocess.CompletedProcess[str]:
    return run_prov("schedule", "run", str(sources), "--case", str(case), *extra, env=env,
                    timeout=120)


def log_entries(case: Path) -> list[dict[str, Any]]:
    """The custody log's entries (payloads decoded, not verified)."""
    import base64

    out = []
    for line in (case / "custody" / "log.jsonl").read_text().splitlines():
        envelope = json.loads(line)
        out.append(json.loads(base64.b64decode(envelope["payload"])))
    return out


def state(case: Path) -> dict[str, Any]:
    doc = json.loads((case / "state" / "schedule.json").read_text())
    assert isinstance(doc, dict)
    return doc


def captures(case: Path) -> list[Path]:
    return sorted(p for p in case.glob("captures/2*/*/*/*") if p.is_dir())


def verify_ok(env: dict[str, str], case: Path, key_pub: Path) -> dict[str, Any]:
    proc = run_prov("verify", str(case), "--trust", str(key_pub), "--json", "--no-remember",
                    env=env)
    assert proc.stdout, f"verify printed nothing (exit {proc.returncode}): {proc.stderr}"
    report = json.loads(proc.stdout)
    bad = [f for f in report["findings"] if f["status"] == "fail"]
    assert proc.returncode == 0, bad
    assert isinstance(report, dict)
    return report
