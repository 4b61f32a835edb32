"""The sources file of ``prov schedule``: which URLs to snapshot, how often and how (TOML 1.0).

    [defaults]                 # optional: values every source takes unless it sets its own
    interval = "1h"
    requisites = true

    [[source]]                 # one table per source
    url = "https://example.org/post/1"
    interval = "15m"           # <n>s, <n>m, <n>h, <n>d or <n>w
    browser = false            # load the page in Chromium (screenshots, scripts' requests)
    media = false              # run yt-dlp on it: the video, its facts, why it is gone
    requisites = true          # fetch what the page needs: images, styles, scripts, fonts
    depth = 0                  # follow links this many levels
    tags = ["election", "post"]
    note = "why this source is watched"
    allow_private_addresses = false  # also fetch this machine's own networks' addresses

Everything is checked before anything runs: a bad entry is a ``ConfigError`` (exit 6) whose
message names the file, the line and what is wrong.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from archive.errors import ConfigError
from archive.http.crawl import validate_url
from provenance.base.untrusted import read_named
from provenance.capture.options import SnapshotOptions

MAX_FILE = 4 << 20
MAX_DEPTH = 5
INTERVAL = re.compile(r"^\s*([0-9]+)\s*([smhdw])\s*$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# what a source sets of its snapshot: fields of SnapshotOptions, with their defaults
CAPTURED = ("browser", "media", "requisites", "depth", "allow_private_addresses")
KEYS = {"url", "interval", "tags", "note", *CAPTURED}
DEFAULTS: dict[str, Any] = {"interval": "1h", "tags": [], "note": "",
                            **{f.name: f.default for f in fields(SnapshotOptions)
                               if f.name in CAPTURED}}
HEADER = re.compile(r"^\s*\[\[\s*source\s*\]\]")
TABLE = re.compile(r"^\s*\[")


@dataclass(frozen=True)
class Source:
    url: str
    interval: str  # as written, e.g. "15m"
    seconds: int
    browser: bool
    requisites: bool
    depth: int
    tags: tuple[str, ...]
    note: str
    line: int  # of its [[source]] header
    media: bool = False
    allow_private_addresses: bool = False

    def options(self) -> SnapshotOptions:
        """How this source is snapshotted."""
        return SnapshotOptions(browser=self.browser, media=self.media,
                               requisites=self.requisites, depth=self.depth,
                               allow_private_addresses=self.allow_private_addresses)

    @property
    def group(self) -> tuple[bool, bool, bool, int, bool]:
        """Sources with equal groups are captured together, in one capture (a browser, and
        yt-dlp, load what a page needs by themselves: ``requisites`` does not apply)."""
        if self.browser or self.media:
            return (self.browser, self.media, False, 0, self.allow_private_addresses)
        return (False, False, self.requisites, self.depth, self.allow_private_addresses)


def parse_interval(text: object) -> int:
    """Seconds in ``"15m"``-style text; ValueError otherwise."""
    match = INTERVAL.match(text) if isinstance(text, str) else None
    if match is None or int(match[1]) == 0:
        raise ValueError(f"interval {text!r} is not a duration like \"15m\", \"1h\" or \"1d\"")
    return int(match[1]) * UNITS[match[2]]


class _Lines:
    """Line numbers of the file's [[source]] headers and keys, for messages."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.headers = [n for n, line in enumerate(self.lines, 1) if HEADER.match(line)]

    def of_key(self, start: int, key: str) -> int:
        """The line of ``key =`` in the table whose header is line ``start`` (0: top level),
        else of a table named ``key``, else ``start``."""
        pattern = re.compile(rf"^\s*([\"']?){re.escape(key)}\1\s*=")
        for number in range(start + 1, len(self.lines) + 1):
            line = self.lines[number - 1]
            if TABLE.match(line):
                break
            if pattern.match(line):
                return number
        return self.table(key) or max(start, 1)

    def table(self, name: str) -> int:
        """The line of ``[name]`` or ``[[name]]``; 0 if there is none."""
        pattern = re.compile(rf"^\s*\[\[?\s*{re.escape(name)}\s*\]")
        return next((n for n, line in enumerate(self.lines, 1) if pattern.match(line)), 0)


def load_sources(path: Path) -> list[Source]:
    """Every source of ``path``, checked; ConfigError naming the line of the first bad one."""
    raw = read_named(path, MAX_FILE, what=f"{path}: the sources file", error=ConfigError)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return _sources(path, doc, _Lines(text))


def _sources(path: Path, doc: dict[str, Any], lines: _Lines) -> list[Source]:
    for key in doc:
        if key not in ("defaults", "source"):
            raise ConfigError(f"{path}:{lines.of_key(0, key)}: unknown key {key!r} "
                              "(expected [defaults] and [[source]] tables)")
    defaults = dict(DEFAULTS)
    given = doc.get("defaults", {})
    if not isinstance(given, dict):
        raise ConfigError(f"{path}:{lines.of_key(0, 'defaults')}: defaults must be a table")
    start = lines.table("defaults")
    defaults.update(_checked(path, given, lines, start, "[defaults]", allow_url=False))
    entries = doc.get("source", [])
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: no [[source]] tables", hint="see seeds/sources.toml")
    sources: list[Source] = []
    seen: dict[str, int] = {}
    for number, entry in enumerate(entries):
        line = lines.headers[number] if number < len(lines.headers) else 1
        what = f"source {number + 1}"
        values = {**defaults, **_checked(path, entry, lines, line, what, allow_url=True)}
        if "url" not in values:
            raise ConfigError(f"{path}:{line}: {what} has no url")
        url = values["url"]
        if url in seen:
            raise ConfigError(f"{path}:{line}: {what} repeats {url} (already at line "
                              f"{seen[url]})")
        seen[url] = line
        if values["browser"] and values["depth"]:
            raise ConfigError(f"{path}:{lines.of_key(line, 'depth')}: {what}: depth does not "
                              "apply to browser = true (a browser capture follows no links)")
        if values["media"] and (values["depth"] or values["requisites"]):
            key = "depth" if values["depth"] else "requisites"
            raise ConfigError(f"{path}:{lines.of_key(line, key)}: {what}: {key} does not "
                              "apply to media = true (yt-dlp fetches what a post needs)")
        sources.append(Source(url, values["interval"], parse_interval(values["interval"]),
                              values["browser"], values["requisites"], values["depth"],
                              tuple(values["tags"]), values["note"], line, values["media"],
                              values["allow_private_addresses"]))
    return sources


def _checked(path: Path, entry: Any, lines: _Lines, line: int, what: str, *,
             allow_url: bool) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}:{line}: {what} is not a table")
    for key, value in entry.items():
        at = lines.of_key(line, key)
        if key not in KEYS or (key == "url" and not allow_url):
            raise ConfigError(f"{path}:{at}: {what}: unknown key {key!r} (known: "
                              f"{', '.join(sorted(KEYS - ({'url'} if not allow_url else set())))})")
        problem = _problem(key, value)
        if problem:
            raise ConfigError(f"{path}:{at}: {what}: {problem}")
    return dict(entry)


def _problem(key: str, value: Any) -> str | None:
    """What is wrong with one value, or None."""
    if key == "url":
        if not isinstance(value, str):
            return "url must be a string"
        try:
            validate_url(value)
        except ValueError as exc:
            return str(exc)
    elif key == "interval":
        try:
            parse_interval(value)
        except ValueError as exc:
            return str(exc)
    elif key in ("browser", "media", "requisites", "allow_private_addresses") and not isinstance(
            value, bool):
        return f"{key} must be true or false, not {value!r}"
    elif key == "depth" and (isinstance(value, bool) or not isinstance(value, int)
                             or not 0 <= value <= MAX_DEPTH):
        return f"depth must be a whole number from 0 to {MAX_DEPTH}, not {value!r}"
    elif key == "tags" and not (isinstance(value, list)
                                and all(isinstance(t, str) for t in value)):
        return "tags must be a list of strings"
    elif key == "note" and not isinstance(value, str):
        return "note must be a string"
    return None

