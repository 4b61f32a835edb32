"""yt-dlp as a library, every request it makes sent through prov's recording proxy.

``yt_dlp.YoutubeDL`` runs in a worker thread with ``proxy`` set to one proxy session (its own
port, so every exchange there is this post's); ``https://`` goes through ``CONNECT`` and the
proxy terminates TLS with a certificate from the run's own authority (``archive.http.mitmca``).
yt-dlp is told to trust that authority and nothing else: each of its request handlers gets a
TLS context holding the run CA alone (not ``nocheckcertificate``, which would accept anyone
answering on the proxy's port). The origins' certificates are verified by the proxy, as in
any capture.

Nothing may leave the machine outside the proxy: downloads are yt-dlp's own (native HLS and
DASH, never ffmpeg as a downloader, which would open its own connections), no cache
directory, no update check, no cookies file. The post's thumbnail is fetched (through the
proxy: what the platform showed as the post's picture is evidence too). ffmpeg runs only to merge
streams already fetched (a local file in, a local file out).

Threat: the page, its manifests and the platform's answers are hostile. yt-dlp parses them;
what prov keeps from that parse is bounded (``MAX_INFO``) and the media file's size is capped
by ``--max-body``. yt-dlp's own errors are kept as text, one line, bounded.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_ERROR = 2000
MAX_INFO = 16 << 20  # bytes of yt-dlp's info dict, as JSON, kept in the metadata record
#: The fields of the info dict the metadata record lists by name (docs/FORMATS.md).
FIELDS = ("id", "title", "fulltitle", "description", "uploader", "uploader_id",
          "uploader_url", "channel", "channel_id", "timestamp", "upload_date", "release_timestamp",
          "duration", "view_count", "like_count", "comment_count", "repost_count", "tags",
          "hashtags", "categories", "webpage_url", "original_url", "extractor",
          "extractor_key", "is_live", "availability", "age_limit", "width", "height", "ext",
          "format_id", "thumbnail")
FORMAT_FIELDS = ("format_id", "format_note", "ext", "protocol", "url", "manifest_url",
                 "width", "height", "fps", "vcodec", "acodec", "tbr", "filesize",
                 "filesize_approx")


def version() -> str:
    # optional: yt-dlp (the media extra)
    from yt_dlp.version import __version__

    return str(__version__)


@dataclass
class Download:
    """What yt-dlp made of one post: its info dict, the files it produced, or its error."""

    url: str
    info: dict[str, Any] | None = None
    files: list[dict[str, Any]] = field(default_factory=list)  # one per requested download
    error: str | None = None
    error_class: str | None = None  # the yt-dlp exception's class name, for classification
    warnings: list[str] = field(default_factory=list)


class _Logger:
    """yt-dlp's messages: warnings and errors kept (bounded), the rest dropped."""

    def __init__(self, download: Download) -> None:
        self.download = download

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        if len(self.download.warnings) < 50:
            self.download.warnings.append(_one_line(msg))

    def error(self, msg: str) -> None:
        if self.download.error is None:
            self.download.error = _one_line(msg)


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line[:MAX_ERROR]


def trusting_only(ca_pem: str) -> Callable[..., ssl.SSLContext]:
    """A replacement for a request handler's ``_make_sslcontext``: the run CA alone."""

    def make(legacy_ssl_support: bool | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=ca_pem)
        context.set_alpn_protocols(["http/1.1"])
        return context

    return make


@dataclass(frozen=True)
class RunSettings:
    """What one yt-dlp run is given."""

    proxy_url: str
    ca_pem: str
    workdir: Path
    timeout: float
    max_filesize: int
    retries: int
    comments: bool = False
    user_agent: str | None = None


def params(settings: RunSettings, download: Download) -> dict[str, Any]:
    """The YoutubeDL options: the proxy, no side channels, files into ``workdir``."""
    return {
        "proxy": settings.proxy_url,
        "logger": _Logger(download),
        "quiet": True, "no_warnings": False, "noprogress": True, "no_color": True,
        "paths": {"home": str(settings.workdir), "temp": str(settings.workdir)},
        "outtmpl": {"default": "%(autonumber)03d-%(id).60B.%(ext)s"},
        "restrictfilenames": True, "windowsfilenames": True,
        "cachedir": False, "noplaylist": True, "playlistend": 20,
        "socket_timeout": settings.timeout, "max_filesize": settings.max_filesize,
        "retries": settings.retries, "fragment_retries": settings.retries,
        "extractor_retries": 0, "file_access_retries": 0,
        "external_downloader": {"default": "native"},
        "hls_prefer_native": True, "hls_use_mpegts": True,
        "fixup": "never",  # keep the bytes as fetched; merges of streams are the only change
        "getcomments": settings.comments,
        "writethumbnail": True, "writesubtitles": False, "writeinfojson": False,
        "overwrites": True, "continuedl": False, "nopart": True, "updatetime": False,
        "check_formats": False, "call_home": False, "mark_watched": False,
    }


def run(url: str, settings: RunSettings) -> Download:
    """Extract and download one post (blocking: run it in a thread)."""
    # optional: yt-dlp (the media extra)
    import yt_dlp
    from yt_dlp.utils import YoutubeDLError

    download = Download(url)

    class Downloader(yt_dlp.YoutubeDL):  # type: ignore[misc]
        def build_request_director(self, handlers: Any, preferences: Any = None) -> Any:
            director = super().build_request_director(handlers, preferences)
            for handler in director.handlers.values():
                handler._make_sslcontext = trusting_only(settings.ca_pem)
            return director

    try:
        with Downloader(params(settings, download)) as ydl:
            info = ydl.extract_info(url, download=True)
            if info is not None:
                download.info = ydl.sanitize_info(info)
    except YoutubeDLError as exc:
        download.error = download.error or _one_line(str(exc))
        cause = getattr(exc, "exc_info", None)
        inner = cause[1] if cause else None
        download.error_class = type(inner or exc).__name__
    except Exception as exc:
        # third-party code on hostile input: its bug is this post's failure, recorded as
        # such, never a crash of the capture
        download.error = download.error or _one_line(f"yt-dlp failed: {type(exc).__name__}: "
                                                     f"{exc}")
        download.error_class = type(exc).__name__
    if download.info is not None:
        download.files = produced(download.info, settings.workdir)
        if not download.files and download.error is None:
            download.error = ("yt-dlp produced no file (larger than --max-body, a live "
                              "stream, or no downloadable format)")
        elif download.files:
            download.error = None  # a message logged on the way, the files came all the same
    return download


def entries(info: dict[str, Any]) -> list[dict[str, Any]]:
    """The videos of an info dict: itself, or a playlist's entries."""
    if info.get("_type") == "playlist" or "entries" in info:
        found = info.get("entries") or []
        return [e for e in found if isinstance(e, dict)]
    return [info]


def produced(info: dict[str, Any], workdir: Path) -> list[dict[str, Any]]:
    """Each file yt-dlp left in ``workdir``, with the formats it came from."""
    out = []
    root = workdir.resolve()
    for entry in entries(info):
        for item in entry.get("requested_downloads") or []:
            path = Path(str(item.get("filepath") or ""))
            try:
                inside = path.resolve().parent == root and path.is_file()
            except OSError:
                inside = False
            if not inside:
                continue
            formats = item.get("requested_formats") or [item]
            out.append({"path": path, "entry": entry, "formats": [
                {k: f.get(k) for k in FORMAT_FIELDS if f.get(k) is not None}
                for f in formats if isinstance(f, dict)]})
    return out


def summary(entry: dict[str, Any]) -> dict[str, Any]:
    """The named fields of one video's info dict, and the formats it offered."""
    fields = {k: entry.get(k) for k in FIELDS if entry.get(k) is not None}
    formats = [{k: f.get(k) for k in FORMAT_FIELDS if f.get(k) is not None}
               for f in entry.get("formats") or [] if isinstance(f, dict)]
    return {"fields": fields, "formatsOffered": formats}


def bounded_info(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The whole info dict when its JSON fits in MAX_INFO, else None (fields still listed)."""
    slim = {k: v for k, v in entry.items() if k not in ("requested_downloads", "entries")}
    try:
        text = json.dumps(slim, default=str)
    except (TypeError, ValueError):
        return None
    return slim if len(text) <= MAX_INFO else None
