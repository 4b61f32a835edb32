"""Which discovered URLs a crawl follows (``--scope``, ``--include``, ``--exclude``).

``host``: the seed's host only; ``domain``: the seed's host and its subdomains (after a
leading ``www.``); ``prefix``: URLs that start with the seed URL up to its last ``/``.
Requisites (what a page needs to display) are fetched from any host, but only ``--exclude``
applies to them; links must be in scope and pass ``--include`` (if any) and ``--exclude``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

SCOPES = ("host", "domain", "prefix")


class Scope:
    def __init__(self, kind: str, include: Sequence[str], exclude: Sequence[str]) -> None:
        if kind not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}, not {kind!r}")
        self.kind = kind
        try:
            self.include = [re.compile(p) for p in include]
            self.exclude = [re.compile(p) for p in exclude]
        except re.error as exc:
            raise ValueError(f"bad --include/--exclude pattern: {exc}") from None

    def _excluded(self, url: str) -> bool:
        return any(p.search(url) for p in self.exclude)

    def allows_requisite(self, url: str) -> bool:
        return not self._excluded(url)

    def allows_link(self, url: str, seed: str) -> bool:
        if self._excluded(url):
            return False
        if self.include and not any(p.search(url) for p in self.include):
            return False
        return self.in_scope(url, seed)

    def in_scope(self, url: str, seed: str) -> bool:
        target, origin = urlsplit(url), urlsplit(seed)
        host, seed_host = (target.hostname or "").lower(), (origin.hostname or "").lower()
        if self.kind == "host":
            return host == seed_host
        if self.kind == "domain":
            base = seed_host.removeprefix("www.")
            return host == base or host.endswith("." + base)
        prefix = seed[: seed.rfind("/") + 1] if origin.path else seed + "/"
        return url.startswith(prefix)
