"""Media capture: yt-dlp behind prov's recording proxy, its media and facts as WARC records
(docs/FORMATS.md, "Media captures"; WARC 1.1 sections 6.5, 6.6 and 6.8).

Per post, in this order: every exchange yt-dlp made (request, response and metadata
records, exactly as for any capture, in the order they completed), then

- the media file yt-dlp produced: a ``resource`` record ``urn:media:<post url>`` when its
  bytes are one fetched body as sent (a progressive download), else a ``conversion`` record
  with the same target and ``WARC-Refers-To`` the response it was made from (HLS segments
  joined, DASH streams merged by ffmpeg); one per file, ``WARC-Concurrent-To`` none;
- a ``metadata`` record ``urn:mediainfo:<post url>``: the extractor, yt-dlp's version, the
  info dictionary's named fields, the formats offered and those fetched (with their response
  records), the file's sha256, and the whole info dictionary when it fits;
- with ``--media-comments``, a ``metadata`` record ``urn:mediacomments:<post url>``;
- a ``metadata`` record ``urn:availability:<post url>``: the availability class and the
  platform's raw answer it was read from (``archive.media.availability``).

After all posts, one ``metadata`` record ``urn:prov:media:<capture id>``: yt-dlp's version,
the options that matter, and the run's certificate authority.

Threat: nothing in yt-dlp's answer is trusted for the record's integrity; the file's digest
is computed here, over the bytes written, and the file must be a regular file inside the
run's own temporary folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from archive.http import recorder
from archive.http.crawl import CaptureOptions, Capturer, Hop, UrlOutcome, json_block, new_record_id
from archive.http.mitmca import RunAuthority
from archive.http.proxy import RecordingProxy
from archive.http.proxyrequest import url_key
from archive.http.revisit import DedupHook
from archive.http.via import parse_via
from archive.media import availability, ytdlp
from archive.warc.writer import Block, Record, WarcWriter, warc_date

FILE_CHUNK = 1 << 20
MAX_COMMENTS_JSON = 64 << 20  # bytes of comments kept per video; the rest are counted
POST_TIMEOUT = 600.0  # seconds for one post: extraction and download
MEDIA_TYPES = {"mp4": "video/mp4", "webm": "video/webm", "mkv": "video/x-matroska",
               "m4a": "audio/mp4", "mp3": "audio/mpeg", "ogg": "audio/ogg", "ts": "video/mp2t",
               "mov": "video/quicktime", "opus": "audio/ogg", "flv": "video/x-flv",
               "jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


@dataclass(frozen=True)
class MediaOptions:
    """Media capture settings."""

    comments: bool = False
    post_timeout: float = POST_TIMEOUT


class Collector:
    """A post's exchanges in the order they completed."""

    def __init__(self) -> None:
        self.exchanges: list[recorder.Exchange] = []

    def add(self, ex: recorder.Exchange) -> None:
        self.exchanges.append(ex)


class MediaCapturer:
    """Runs yt-dlp on each post, one at a time, into one WARC writer."""

    def __init__(self, writer: WarcWriter, options: CaptureOptions, media: MediaOptions, *,
                 capture_id: str, now: Callable[[], datetime],
                 new_id: Callable[[], str] = new_record_id,
                 on_progress: Callable[[UrlOutcome, dict[str, int]], None] | None = None,
                 dedup: DedupHook | None = None) -> None:
        self.writer = writer
        self.options = options
        self.media = media
        self.capture_id = capture_id
        self.now = now
        self.new_id = new_id
        self.on_progress = on_progress
        # no revisits: a post's exchanges stay whole, so its media can be checked against them
        self.records = Capturer(writer, options, now=now, new_id=new_id, dedup=None)
        self.outcomes: list[UrlOutcome] = []
        self.posts: list[dict[str, Any]] = []  # per post: url, availability, media summary
        self.counts = {"done": 0, "queued": 0, "failed": 0, "bytes": 0}
        self._writing = threading.Lock()

    async def capture(self, posts: Sequence[str]) -> list[UrlOutcome]:
        authority = RunAuthority(self.now())
        proxy = RecordingProxy(
            limits=self.options.limits, context=self.records.context,
            trust_store=self.records.trust_store, now=self.now, authority=authority,
            via=parse_via(self.options.via) if self.options.via else None,
            policy=await self.records.address_policy(posts))
        ca_pem = authority.ca_pem
        self.counts["queued"] = len(posts)
        deadline = (time.monotonic() + self.options.total_timeout
                    if self.options.total_timeout is not None else None)
        try:
            for url in posts:
                if deadline is not None and time.monotonic() >= deadline:
                    self._done(UrlOutcome(url, error="not fetched: total time limit reached",
                                          total_time_limit=True))
                    continue
                self._done(await self._post(proxy, ca_pem, url, deadline))
        finally:
            await proxy.close(grace=1.0)
            authority.close()
        self.writer.write_group([self._run_record(authority)])
        return self.outcomes

    def _done(self, outcome: UrlOutcome) -> None:
        self.outcomes.append(outcome)
        self.counts["done"] += 1
        self.counts["failed"] += 0 if outcome.ok else 1
        self.counts["bytes"] += sum(h.bytes for h in outcome.hops)
        if self.on_progress:
            self.on_progress(outcome, dict(self.counts))

    async def _post(self, proxy: RecordingProxy, ca_pem: str, url: str,
                    deadline: float | None) -> UrlOutcome:
        start = time.monotonic()
        limit = self.media.post_timeout
        if deadline is not None:
            limit = max(1.0, min(limit, deadline - start))
        collector = Collector()
        session = await proxy.open_session(collector.add, deadline=start + limit)
        workdir = Path(tempfile.mkdtemp(prefix="prov-media-"))
        try:
            settings = ytdlp.RunSettings(
                proxy_url=session.url, ca_pem=ca_pem, workdir=workdir,
                timeout=self.options.limits.timeout, max_filesize=self.options.limits.max_body,
                retries=self.options.retries, comments=self.media.comments)
            try:
                download = await asyncio.wait_for(asyncio.to_thread(ytdlp.run, url, settings),
                                                  limit + 30)
            except TimeoutError:
                download = ytdlp.Download(url, error=f"yt-dlp did not finish within {limit:.0f} s")
            await session.close(grace=5.0)
            outcome = await asyncio.to_thread(self._write_post, url, download, collector)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        outcome.seconds = time.monotonic() - start
        return outcome

    def _write_post(self, url: str, download: ytdlp.Download,
                    collector: Collector) -> UrlOutcome:
        with self._writing:
            return self._write_post_records(url, download, collector)

    def _write_post_records(self, url: str, download: ytdlp.Download,
                            collector: Collector) -> UrlOutcome:
        captured = bool(download.files)
        found = availability.classify(url, collector.exchanges, captured=captured,
                                      ytdlp_error=download.error,
                                      error_class=download.error_class)
        responses: dict[str, str] = {}  # url key -> the last response record id
        decoded: dict[bytes, str] = {}  # decoded body sha256 -> its response record id
        hops: list[Hop] = []
        chain_keys = [url_key(h["url"]) for h in found.hops]
        for ex in collector.exchanges:
            locations = self.records.write_exchange(ex)
            response = next((loc.record_id for loc in locations
                             if loc.warc_type == "response"), None)
            if response is not None:
                responses[url_key(ex.url)] = response
                if ex.decoded_sha256 is not None and not ex.truncated:
                    decoded.setdefault(ex.decoded_sha256, response)
            key = url_key(ex.url)
            if key in chain_keys and len(hops) < len(chain_keys):
                chain_keys[chain_keys.index(key)] = ""
                hops.append(Hop(ex.url, ex.status, ex.response.length if ex.response else 0,
                                len(locations), ex.truncated, ex.error))
        date = self.now()
        records: list[Record] = []
        files = [self._media_record(url, item, responses, decoded, date, records)
                 for item in download.files]
        entries = ytdlp.entries(download.info) if download.info else []
        if download.info is not None:
            records.append(self._info_record(url, download, entries, files, date, responses))
            if self.media.comments:
                records.append(self._comments_record(url, entries, date))
        records.append(availability_record(url, found, self.capture_id,
                                           responses.get(url_key(found.url or url)), date,
                                           self.new_id()))
        self.writer.write_group(records, url)
        first = entries[0] if entries else {}
        self.posts.append({
            "url": url, "availability": found.state, "reason": found.reason,
            "takedown": found.takedown, "status": found.status,
            "media": [{"sha256": f["sha256"], "bytes": f["bytes"], "record": f["record"],
                       "type": f["warcType"]} for f in files],
            "uploader": first.get("uploader"), "timestamp": first.get("timestamp"),
            "uploadDate": first.get("upload_date"), "duration": first.get("duration"),
            "extractor": first.get("extractor_key") or first.get("extractor"),
        })
        error = None if captured else f"media {found.state}: {found.reason}"
        outcome = UrlOutcome(url, hops=hops, error=error)
        outcome.note = (f"media: {len(files)} file(s), {len(collector.exchanges)} requests "
                        "recorded" if captured else None)  # a failure says it in its error
        return outcome

    def _media_record(self, url: str, item: dict[str, Any], responses: dict[str, str],
                      decoded: dict[bytes, str], date: datetime,
                      records: list[Record]) -> dict[str, Any]:
        path: Path = item["path"]
        block = Block()
        with path.open("rb") as fh:
            while chunk := fh.read(FILE_CHUNK):
                block.write(chunk)
        digest = hashlib.sha256()
        for chunk in block.iter_chunks():
            digest.update(chunk)
        sha = digest.digest()
        record_id = self.new_id()
        ext = path.suffix.lstrip(".").lower()
        headers = [("WARC-Target-URI", f"urn:media:{url}")]
        identical = decoded.get(sha)
        sources = []
        for fmt in item["formats"]:
            source = fmt.get("manifest_url") or fmt.get("url")
            sources.append({**fmt, "responseRecord":
                            responses.get(url_key(str(source))) if source else None})
        if identical is not None:
            warc_type = "resource"
        else:
            warc_type = "conversion"
            refers = next((s["responseRecord"] for s in sources if s["responseRecord"]), None)
            if refers is not None:
                headers.append(("WARC-Refers-To", refers))
        records.append(Record(warc_type, record_id, date, block, headers,
                              content_type=MEDIA_TYPES.get(ext, "application/octet-stream"),
                              with_payload_digest=False))
        return {"record": record_id, "warcType": warc_type, "sha256": "sha256:" + sha.hex(),
                "bytes": block.length, "ext": ext, "name": path.name,
                "identicalToResponse": identical, "merged": len(item["formats"]) > 1,
                "sources": sources, "entryId": item["entry"].get("id")}

    @staticmethod
    def _thumbnail(entry: dict[str, Any], responses: dict[str, str]) -> dict[str, Any] | None:
        """The thumbnail yt-dlp fetched for a video, and its response record."""
        fetched = [t for t in entry.get("thumbnails") or []
                   if isinstance(t, dict) and t.get("filepath") and t.get("url")]
        if not fetched:
            return None
        url = str(fetched[-1]["url"])
        return {"url": url, "responseRecord": responses.get(url_key(url))}

    def _info_record(self, url: str, download: ytdlp.Download, entries: list[dict[str, Any]],
                     files: list[dict[str, Any]], date: datetime,
                     responses: dict[str, str]) -> Record:
        assert download.info is not None
        info = {
            "post": url, "captureId": self.capture_id, "ytDlpVersion": ytdlp.version(),
            "extractor": download.info.get("extractor"),
            "extractorKey": download.info.get("extractor_key"),
            "videos": [{**ytdlp.summary(e), "thumbnail": self._thumbnail(e, responses),
                        "info": ytdlp.bounded_info(e)} for e in entries],
            "files": files, "warnings": download.warnings,
        }
        headers = [("WARC-Target-URI", f"urn:mediainfo:{url}")]
        if files:
            headers.append(("WARC-Concurrent-To", files[0]["record"]))
        return Record("metadata", self.new_id(), date, json_block(info), headers,
                      content_type="application/json", with_payload_digest=False)

    def _comments_record(self, url: str, entries: list[dict[str, Any]],
                         date: datetime) -> Record:
        comments = [{"id": e.get("id"), "commentCount": e.get("comment_count"),
                     **_bounded_comments(e.get("comments"))} for e in entries]
        return Record("metadata", self.new_id(), date,
                      json_block({"post": url, "captureId": self.capture_id,
                                  "videos": comments}),
                      [("WARC-Target-URI", f"urn:mediacomments:{url}")],
                      content_type="application/json", with_payload_digest=False)

    def _run_record(self, authority: RunAuthority) -> Record:
        info = {"captureId": self.capture_id, "ytDlpVersion": ytdlp.version(),
                "library": "yt_dlp.YoutubeDL", "comments": self.media.comments,
                "options": {"downloader": "native (HLS and DASH fetched by yt-dlp itself)",
                            "fixup": "never", "ffmpeg": "merging fetched streams only"},
                "runAuthority": {"sha256": authority.ca_sha256,
                                 "validUntil": warc_date(authority.not_after),
                                 "trustedBy": "yt-dlp only, for this run"},
                "posts": self.posts}
        return Record("metadata", self.new_id(), self.now(), json_block(info),
                      [("WARC-Target-URI", f"urn:prov:media:{self.capture_id}")],
                      content_type="application/json", with_payload_digest=False)


def availability_record(post: str, found: availability.Availability, capture_id: str,
                        response_record: str | None, date: datetime,
                        record_id: str) -> Record:
    """The ``urn:availability:<post>`` record (docs/FORMATS.md, "Availability")."""
    doc = {"post": post, "captureId": capture_id, "checkedAt": warc_date(date),
           **found.as_json(), "responseRecord": response_record}
    return Record("metadata", record_id, date, json_block(doc),
                  [("WARC-Target-URI", f"urn:availability:{post}")],
                  content_type="application/json", with_payload_digest=False)


def _bounded_comments(comments: Any) -> dict[str, Any]:
    """The comments yt-dlp read, as many as fit in MAX_COMMENTS_JSON bytes of JSON."""
    kept: list[Any] = []
    size = 0
    rows = comments if isinstance(comments, list) else []
    for row in rows:
        size += len(json.dumps(row, default=str))
        if size > MAX_COMMENTS_JSON:
            break
        kept.append(row)
    out: dict[str, Any] = {"comments": kept}
    if len(kept) < len(rows):
        out["commentsNotKept"] = len(rows) - len(kept)
    return out
