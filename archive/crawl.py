"""Capturing a list of URLs into WARC records: redirects followed, every hop recorded.

Each exchange becomes a ``request``, a ``response`` and a ``metadata`` record written
together (WARC 1.1 sections 6.4-6.7); a fetch that got no response becomes a ``metadata``
record that says why (after the ``request`` record, if one was sent), so a failed attempt is
evidence too.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from archive import recorder, tls
from archive.warc import Block, Record, RecordLocation, WarcWriter

REDIRECT_STATUSES = {301, 302, 303, 307, 308}


def new_record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


@dataclass(frozen=True)
class CaptureOptions:
    """How to capture: limits per request, redirects, concurrency, TLS trust."""

    limits: recorder.FetchLimits = field(default_factory=recorder.FetchLimits)
    max_redirects: int = 10
    concurrency: int = 8
    ca_file: Path | None = None
    insecure_skip_tls_verify: bool = False


@dataclass
class Hop:
    """One exchange of a seed's redirect chain, as the summary reports it."""

    url: str
    status: int | None
    bytes: int
    records: int
    truncated: str | None = None
    error: str | None = None


@dataclass
class UrlOutcome:
    """What happened to one seed URL."""

    seed: str
    hops: list[Hop] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def final(self) -> Hop | None:
        return self.hops[-1] if self.hops else None

    @property
    def ok(self) -> bool:
        final = self.final
        return self.error is None and final is not None and final.status is not None

    def as_json(self) -> dict[str, Any]:
        final = self.final
        return {
            "url": self.seed,
            "finalUrl": final.url if final else None,
            "status": final.status if final else None,
            "bytes": sum(h.bytes for h in self.hops),
            "records": sum(h.records for h in self.hops),
            "seconds": round(self.seconds, 3),
            "truncated": final.truncated if final else None,
            "error": self.error,
            "hops": [h.url for h in self.hops],
        }


def validate_url(url: str) -> str:
    """The URL if it can be captured; ValueError with a one-line reason otherwise."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValueError(f"not an http(s) URL: {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError(f"bad port in URL: {url!r}") from None
    return url


def json_block(value: Any) -> Block:
    return Block.of(json.dumps(value, sort_keys=True, ensure_ascii=False).encode())


class Capturer:
    """Fetches seeds concurrently into one WARC writer."""

    def __init__(
        self,
        writer: WarcWriter,
        options: CaptureOptions,
        *,
        now: Callable[[], datetime],
        new_id: Callable[[], str] = new_record_id,
    ) -> None:
        self.writer = writer
        self.options = options
        self.now = now
        self.new_id = new_id
        self.context, self.trust_store = tls.client_context(
            options.ca_file, insecure=options.insecure_skip_tls_verify
        )

    async def capture(self, seeds: Sequence[str]) -> list[UrlOutcome]:
        gate = asyncio.Semaphore(max(1, self.options.concurrency))

        async def one(seed: str) -> UrlOutcome:
            async with gate:
                return await self.capture_seed(seed)

        return list(await asyncio.gather(*(one(s) for s in seeds)))

    async def capture_seed(self, seed: str) -> UrlOutcome:
        outcome = UrlOutcome(seed)
        start = time.monotonic()
        url, seen = seed, set[str]()
        while True:
            seen.add(url)
            ex = await recorder.fetch(
                url,
                limits=self.options.limits,
                context=self.context,
                trust_store=self.trust_store,
                now=self.now,
            )
            locations = self.write_exchange(ex)
            outcome.hops.append(
                Hop(url, ex.status, ex.response.length if ex.response else 0, len(locations),
                    ex.truncated, ex.error)
            )
            if ex.error and ex.status is None:
                outcome.error = ex.error
                break
            target = self._redirect_target(ex)
            if target is None:
                break
            if target in seen:
                outcome.error = f"redirect loop at {target}"
                break
            if len(outcome.hops) > self.options.max_redirects:
                outcome.error = f"more than {self.options.max_redirects} redirects"
                break
            url = target
        outcome.seconds = time.monotonic() - start
        return outcome

    def _redirect_target(self, ex: recorder.Exchange) -> str | None:
        if ex.status not in REDIRECT_STATUSES or ex.truncated:
            return None
        location = ex.header(b"location")
        if not location:
            return None
        target = urljoin(ex.url, location.decode("latin-1").strip())
        try:
            return validate_url(target)
        except ValueError:
            return None

    def write_exchange(self, ex: recorder.Exchange) -> list[RecordLocation]:
        return self.writer.write_group(self.exchange_records(ex), ex.url)

    def exchange_records(self, ex: recorder.Exchange) -> list[Record]:
        meta = recorder.metadata_fields(ex)
        if self.options.insecure_skip_tls_verify:
            meta["tlsVerification"] = "disabled by --insecure-skip-tls-verify"
        target = [("WARC-Target-URI", ex.url)]
        if ex.response is None or ex.request is None:
            return [self._metadata(ex, meta, target, None)]
        ip = [("WARC-IP-Address", ex.ip)] if ex.ip else []
        if ex.response.length == 0:
            # Sent, but not one byte came back: keep the request as evidence, and no empty
            # response record (it holds no HTTP response, and warcio cannot check its digest).
            ex.response.close()
            request_id = self.new_id()
            return [
                Record("request", request_id, ex.started_at, ex.request, [*target, *ip],
                       content_type="application/http;msgtype=request"),
                self._metadata(ex, meta, target, request_id),
            ]
        response_id, request_id = self.new_id(), self.new_id()
        response_headers = [*target, *ip, ("WARC-Concurrent-To", request_id)]
        if ex.truncated:
            response_headers.append(("WARC-Truncated", ex.truncated))
        has_head = ex.response.payload_offset is not None
        records = [
            Record("request", request_id, ex.started_at, ex.request,
                   [*target, *ip, ("WARC-Concurrent-To", response_id)],
                   content_type="application/http;msgtype=request"),
            Record("response", response_id, ex.started_at, ex.response, response_headers,
                   content_type="application/http;msgtype=response",
                   with_payload_digest=has_head),
        ]
        records.append(self._metadata(ex, meta, target, response_id))
        return records

    def _metadata(
        self, ex: recorder.Exchange, meta: dict[str, Any], target: list[tuple[str, str]],
        concurrent_to: str | None,
    ) -> Record:
        headers = list(target)
        if concurrent_to:
            headers.append(("WARC-Concurrent-To", concurrent_to))
        return Record("metadata", self.new_id(), ex.started_at, json_block(meta), headers,
                      content_type="application/json", with_payload_digest=False)
