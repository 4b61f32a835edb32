"""Making one capture and committing it to a case (docs/FORMATS.md, "Commit protocol").

Order, each step durable before the next: write and fsync the WARC files in
``captures/.partial/<id>/``; sign the seal (DSSE over an in-toto Statement v1); stamp it;
rename the folder into ``captures/YYYY/MM/DD/<id>/`` and fsync the parent; append the custody
entries under the case lock; write the checkpoint. A crash at any point leaves a state that
verify reads as incomplete (a warning that ``prov log repair`` completes), never as tampering.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive.http.crawl import CaptureOptions, Capturer, UrlOutcome, json_block, new_record_id
from archive.http.revisit import DedupHook
from archive.http.via import parse_via
from archive.warc.cdxj import IndexBuilder
from archive.warc.writer import Block, Record, WarcFile, WarcWriter
from provenance import __version__
from provenance.base import failpoints, ids, timefmt
from provenance.base.digests import sha256_file
from provenance.custody import merkle
from provenance.custody.case import SEAL_NAME, Case, fsync_dir, write_durable
from provenance.custody.checkpoint import Checkpoint
from provenance.custody.log import CustodyLog, NewEntry, file_subject
from provenance.custody.stamping import (
    Stamper,
    StampOutcome,
    checkpoint_stamper,
    save_seal_tokens,
    token_entries,
)
from provenance.signing.dsse import sign_envelope
from provenance.signing.keys import SigningKey
from provenance.signing.statements import IN_TOTO_PAYLOAD, CaptureSeal, Subject

if TYPE_CHECKING:  # archive.browser.capture imports playwright: only browser captures load it
    from archive.browser.capture import BrowserCapturer, BrowserOptions
    from archive.media.capture import MediaCapturer, MediaOptions

INDEX_NAME = "index.cdxj"
FAILURES_LISTED = 256 << 10  # bytes of URLs and errors in a capture-failed entry
URLS_LISTED = 64 << 10  # bytes of URLs a capture entry lists (what a deleted capture held)


@dataclass
class CaptureResult:
    capture_id: str
    capture_dir: str
    outcomes: list[UrlOutcome]
    files: list[WarcFile] = field(default_factory=list)
    checkpoint: Checkpoint | None = None
    browser: dict[str, Any] | None = None  # a browser capture's run summary
    stamps: list[StampOutcome] = field(default_factory=list)  # each TSA's answer for the seal

    @property
    def unstamped(self) -> list[StampOutcome]:
        """TSAs of the run that gave the seal no token (logged as ``timestamp-pending``):
        said on stderr and in the summary, never silent (docs/SECURITY.md, "Operator
        policy")."""
        return [o for o in self.stamps if o.stamp is None]
    media: list[dict[str, Any]] | None = None  # a media capture's posts (archive.media.capture)

    @property
    def failed(self) -> list[UrlOutcome]:
        """URLs not captured: listed in a capture-failed entry, and the command exits 5."""
        return [o for o in self.outcomes if o.failed]

    @property
    def not_fetched(self) -> list[UrlOutcome]:
        """URLs the crawl found that the total time limit left without a response: listed
        in the capture entry, not failures (docs/DECISIONS.md)."""
        return [o for o in self.outcomes if o.not_fetched and not o.failed]

    @property
    def refused(self) -> list[UrlOutcome]:
        """URLs the crawl or a page found at a private address, not fetched by the rule of
        archive.http.addresses: listed in the capture entry, not failures (docs/DECISIONS.md)."""
        return [o for o in self.outcomes if o.refused and not o.failed]


def capture_dir_for(capture_id: str, started: datetime) -> str:
    return f"captures/{started:%Y/%m/%d}/{capture_id}"


def warcinfo_factory(capture_id: str, now: Callable[[], datetime],
                     options: CaptureOptions | None = None) -> Callable[[str], Record]:
    via = ""
    if options is not None and options.via:
        via = f"prov-via: {parse_via(options.via).display}\r\n"

    def make(filename: str) -> Record:
        fields = (
            f"software: prov/{__version__}\r\n"
            "format: WARC File Format 1.1\r\n"
            "conformsTo: https://iipc.github.io/warc-specifications/specifications/"
            "warc-format/warc-1.1/\r\n"
            f"isPartOf: urn:prov:capture:{capture_id}\r\n"
            f"{via}"
        ).encode()
        return Record("warcinfo", new_record_id(), now(), Block.of(fields),
                      [("WARC-Filename", filename)], content_type="application/warc-fields",
                      with_payload_digest=False)

    return make


def records_root(files: Sequence[WarcFile]) -> bytes:
    tree = merkle.TreeBuilder()
    for warc in sorted(files, key=lambda f: f.name):
        for record in warc.records:
            tree.append(record.leaf_hash)
    return tree.root()


def build_seal(
    capture_id: str, capture_dir: str, started: datetime, ended: datetime,
    files: Sequence[WarcFile], key: SigningKey, note: str | None,
    extra: Sequence[Subject] = (), *, case_id: str,
) -> CaptureSeal:
    """The statement over the WARC files (and ``extra`` files such as the CDXJ index), naming
    the case it is sealed for (a capture copied into another case fails there: seal.case)."""
    ordered = sorted(files, key=lambda f: f.name)
    subjects = sorted([*(Subject(f.name, f.sha256) for f in ordered), *extra],
                      key=lambda s: s.name)
    return CaptureSeal(
        case_id=case_id,
        capture_id=capture_id,
        capture_dir=capture_dir,
        started_at=timefmt.format_time(started),
        ended_at=timefmt.format_time(ended),
        operator=key.key_id,
        tool_version=__version__,
        subjects=tuple(subjects),
        records={f.name: len(f.records) for f in ordered},
        records_root=records_root(ordered),
        note=note,
    )


def snapshot(
    case: Case,
    urls: Sequence[str],
    key: SigningKey,
    options: CaptureOptions,
    *,
    note: str | None = None,
    now: Callable[[], datetime] = timefmt.utc_now,
    stamper: Stamper | None = None,
    warc_size: int = 1 << 30,
    on_progress: Callable[[UrlOutcome, dict[str, int]], None] | None = None,
    dedup: DedupHook | None = None,
    browser: BrowserOptions | None = None,
    media: MediaOptions | None = None,
) -> CaptureResult:
    started = now()
    capture_id = ids.uuid7(started)
    relative = capture_dir_for(capture_id, started)
    partial = case.partial_dir / capture_id
    partial.mkdir(parents=True)
    index_builder = IndexBuilder()  # the CDXJ lines, made as each record is written
    writer = WarcWriter(partial, warcinfo=warcinfo_factory(capture_id, now, options),
                        max_file_size=warc_size, on_record=index_builder.add)
    seeds: dict[str, Any] = {"captureId": capture_id, "seeds": list(urls), "note": note}
    if options.allow_private_addresses:  # absent: the default rule (archive.http.addresses)
        seeds["allowPrivateAddresses"] = True
    writer.write_group([Record("metadata", new_record_id(), started, json_block(seeds),
                               [("WARC-Target-URI", f"urn:prov:seeds:{capture_id}")],
                               content_type="application/json", with_payload_digest=False)])
    pages: BrowserCapturer | None = None
    posts: MediaCapturer | None = None
    if browser is not None:
        # optional: playwright (the browser extra)
        from archive.browser.capture import BrowserCapturer

        pages = BrowserCapturer(writer, options, browser, capture_id=capture_id, now=now,
                                on_progress=on_progress, dedup=dedup)
    if media is not None:
        # optional: yt-dlp (the media extra)
        from archive.media.capture import MediaCapturer

        posts = MediaCapturer(writer, options, media, capture_id=capture_id, now=now,
                              on_progress=on_progress)
    if pages is None and posts is None:
        capturer = Capturer(writer, options, now=now, on_progress=on_progress, dedup=dedup)
        outcomes = asyncio.run(capturer.capture(urls))
    else:
        outcomes = asyncio.run(_pages_and_posts(urls, pages, posts))
    result = CaptureResult(capture_id, relative, outcomes, writer.close())
    if pages is not None:
        result.browser = pages.summary
    if posts is not None:
        result.media = posts.posts
    index = index_builder.dump(partial, INDEX_NAME)
    failpoints.reach("after-warc")
    seal = build_seal(capture_id, relative, started, now(), result.files, key, note,
                      extra=[Subject(INDEX_NAME, sha256_file(index))], case_id=case.info.id)
    envelope = sign_envelope(IN_TOTO_PAYLOAD, seal.payload(), key)
    write_durable(partial / (SEAL_NAME + ".tmp"), envelope)
    os.replace(partial / (SEAL_NAME + ".tmp"), partial / SEAL_NAME)  # never a torn seal
    failpoints.reach("after-seal")
    stamper = stamper or Stamper([])
    stamps = result.stamps = stamper.stamp(envelope)
    save_seal_tokens(case, partial, stamps)
    failpoints.reach("after-stamp")
    final = case.root / relative
    final.parent.mkdir(parents=True, exist_ok=True)
    os.rename(partial, final)
    fsync_dir(final.parent)
    fsync_dir(case.partial_dir)
    failpoints.reach("after-rename")
    result.checkpoint = log_capture(case, final, result, key, now(), stamper, stamps)
    return result


async def _pages_and_posts(urls: Sequence[str], pages: BrowserCapturer | None,
                           posts: MediaCapturer | None) -> list[UrlOutcome]:
    """A browser capture of the pages, then yt-dlp on the same URLs, into one capture."""
    outcomes: list[UrlOutcome] = []
    if pages is not None:
        outcomes += await pages.capture(urls)
    if posts is not None:
        outcomes += await posts.capture(urls)
    return outcomes


def media_details(result: CaptureResult) -> dict[str, Any]:
    """What the capture entry says of each post: its availability (the class and the
    platform's status) and the media records' digests."""
    if result.media is None:
        return {}
    rows = [{k: post[k] for k in ("url", "availability", "reason", "takedown", "status",
                                  "media")} for post in result.media]
    listed = rows[:_fitting(len(r["url"]) + len(r["reason"]) + 100 * len(r["media"])
                            for r in rows)]
    details: dict[str, Any] = {"media": listed}
    if len(listed) < len(rows):
        details["mediaNotListed"] = len(rows) - len(listed)
    return details


def failure_details(result: CaptureResult) -> dict[str, Any]:
    """The capture-failed entry's details: failures listed up to FAILURES_LISTED bytes, so
    the entry stays far below custody.MAX_LINE (a crawl stopped by --total-timeout can leave
    thousands of URLs unfetched); ``failuresNotListed`` counts the rest."""
    rows = [{"url": o.seed, "error": o.error or "no response"} for o in result.failed]
    listed = rows[:_fitting(len(r["url"]) + len(r["error"]) for r in rows)]
    details: dict[str, Any] = {"captureId": result.capture_id, "failures": listed}
    if len(listed) < len(rows):
        details["failuresNotListed"] = len(rows) - len(listed)
    return details


def url_list_details(result: CaptureResult) -> dict[str, Any]:
    """The URLs the capture fetched, in the order of its summary, up to URLS_LISTED bytes
    (``urlsNotListed`` counts the rest): what verify names when the capture is deleted."""
    urls = list(dict.fromkeys(o.seed for o in result.outcomes))
    listed = urls[:_fitting((len(u) for u in urls), URLS_LISTED)]
    details: dict[str, Any] = {"urlList": listed}
    if len(listed) < len(urls):
        details["urlsNotListed"] = len(urls) - len(listed)
    return details


def not_fetched_details(result: CaptureResult) -> dict[str, Any]:
    """What the capture entry says of URLs the total time limit left unfetched: how many,
    and the URLs up to FAILURES_LISTED bytes (``notFetchedNotListed`` counts the rest)."""
    if not result.not_fetched:
        return {}
    urls = [o.seed for o in result.not_fetched]
    listed = urls[:_fitting(len(u) for u in urls)]
    details: dict[str, Any] = {"notFetched": len(result.not_fetched),
                               "notFetchedUrls": listed}
    if len(listed) < len(result.not_fetched):
        details["notFetchedNotListed"] = len(result.not_fetched) - len(listed)
    return details


def refused_details(result: CaptureResult) -> dict[str, Any]:
    """What the capture entry says of URLs refused by the private-address rule: how many,
    and the URLs up to FAILURES_LISTED bytes (``refusedNotListed`` counts the rest)."""
    if not result.refused:
        return {}
    urls = [o.seed for o in result.refused]
    listed = urls[:_fitting(len(u) for u in urls)]
    details: dict[str, Any] = {"refused": len(urls), "refusedUrls": listed}
    if len(listed) < len(urls):
        details["refusedNotListed"] = len(urls) - len(listed)
    return details


def _fitting(sizes: Iterable[int], limit: int = FAILURES_LISTED) -> int:
    """How many of the first rows fit in ``limit`` bytes (32 a row for the JSON)."""
    total = fitting = 0
    for size in sizes:
        total += size + 32
        if total > limit:
            break
        fitting += 1
    return fitting


def log_capture(
    case: Case, final: Path, result: CaptureResult, key: SigningKey, at: datetime,
    stamper: Stamper, outcomes: Sequence[StampOutcome],
) -> Checkpoint:
    """Append the capture's entries (capture, its stamps, failures) and a checkpoint."""
    entries = capture_entries(case, final, result, outcomes)
    with case.lock():
        failpoints.reach("before-log")
        return CustodyLog(case, checkpoint_stamper(case, stamper)).append(entries, key, at)


def capture_entries(case: Case, final: Path, result: CaptureResult,
                    outcomes: Sequence[StampOutcome]) -> list[NewEntry]:
    """The entries that log a capture sealed in ``final``: capture, its stamps, failures."""
    seal = file_subject(case, final / SEAL_NAME)
    entries = [NewEntry("capture", (seal,), {
        "captureId": result.capture_id,
        "captureDir": result.capture_dir,
        "urls": len(result.outcomes),
        "failed": len(result.failed),
        **url_list_details(result),
        **not_fetched_details(result),
        **media_details(result),
        **refused_details(result),
        "tsa": [o.tsa_id for o in outcomes],
    })]
    entries += token_entries(case, final / SEAL_NAME, outcomes,
                             lambda tsa: final / f"seal.{tsa}.tsr")
    if result.failed:
        entries.append(NewEntry("capture-failed", (seal,), failure_details(result)))
    return entries
