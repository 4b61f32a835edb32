"""A small video platform for media-capture tests, served by `servers.LocalServer`, with real
media made at test time by Debian's ffmpeg (two seconds each, a few KB).

    /watch/video      an HTML5 <video> page (og:title, a description)  → /media/clip.webm
    /watch/og         a page whose only media is its og:video           → /media/og.mp4
    /watch/ld         a page with a schema.org VideoObject (uploader, upload date, duration,
                      views) whose contentUrl is /media/og.mp4, thumbnailUrl /media/thumb.png
    /hls/index.m3u8   an HLS media playlist and its MPEG-TS segments /hls/seg<N>.ts
    /dash/stream.mpd  a DASH manifest, video and audio apart (yt-dlp merges them)
    /watch/login      302 → /login (a login wall)
    /watch/removed    410 with the platform's JSON error payload
    /watch/gone       404 with an HTML "this video was removed" page
    /watch/private    403 with a JSON payload saying the video is private
    /watch/geo        451 with a JSON payload naming the country restriction
    /watch/limited    429 with Retry-After
    /watch/blocked    403 with an HTML "access denied" page (a block, not a takedown)

`MediaSite.remove(path)` makes a served post answer 410 from then on (a takedown between two
captures); `MediaSite.rate_limit(path)` makes it answer 429 until called with ``on=False``.
Every response has a Content-Length and no content coding.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from servers import DATE, Exchange, LocalServer, redirect_response, response

FFMPEG = "/usr/bin/ffmpeg"
TITLE = "Influencer clip #42"
DESCRIPTION = "A two second test clip. #prov #evidence"

SOURCES = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=2",
           "-f", "lavfi", "-i", "sine=frequency=440:duration=2"]

TYPES = {".png": b"image/png", ".webm": b"video/webm", ".mp4": b"video/mp4",
         ".m3u8": b"application/vnd.apple.mpegurl",
         ".ts": b"video/mp2t", ".mpd": b"application/dash+xml", ".m4s": b"video/iso.segment"}


def have_ffmpeg() -> bool:
    return shutil.which(FFMPEG) is not None


def ffmpeg(*args: str, cwd: Path) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], cwd=cwd,
                   check=True, timeout=120)


def make_media(folder: Path) -> dict[str, Path]:
    """The files the site serves, by URL path."""
    folder.mkdir(parents=True, exist_ok=True)
    ffmpeg(*SOURCES, "-c:v", "libvpx", "-b:v", "40k", "-c:a", "libopus", "-b:a", "16k",
           "clip.webm", cwd=folder)
    ffmpeg(*SOURCES, "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-c:a", "aac",
           "-b:a", "16k", "-movflags", "+faststart", "og.mp4", cwd=folder)
    (folder / "hls").mkdir(exist_ok=True)
    ffmpeg(*SOURCES, "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-c:a", "aac",
           "-b:a", "16k", "-f", "hls", "-hls_time", "1", "-hls_list_size", "0",
           "-hls_segment_filename", "seg%d.ts", "index.m3u8", cwd=folder / "hls")
    (folder / "dash").mkdir(exist_ok=True)
    ffmpeg(*SOURCES, "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast",
           "-c:a", "aac", "-b:a", "16k", "-f", "dash", "-seg_duration", "1",
           "-use_template", "1", "-use_timeline", "0",
           "-adaptation_sets", "id=0,streams=v id=1,streams=a", "stream.mpd",
           cwd=folder / "dash")
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=1:duration=1", "-frames:v", "1",
           "thumb.png", cwd=folder)
    files = {"/media/clip.webm": folder / "clip.webm", "/media/og.mp4": folder / "og.mp4",
             "/media/thumb.png": folder / "thumb.png"}
    for sub in ("hls", "dash"):
        for path in sorted((folder / sub).iterdir()):
            files[f"/{sub}/{path.name}"] = path
    return files


def video_page(title: str, body: str, head: str = "") -> bytes:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title>\n<meta property=\"og:title\" content=\"{title}\">\n"
            f"<meta name=\"description\" content=\"{DESCRIPTION}\">\n{head}</head>\n"
            f"<body><h1>{title}</h1>\n{body}\n</body></html>\n").encode()


def json_error(status: bytes, payload: dict[str, object],
               extra: list[tuple[bytes, bytes]] | None = None) -> bytes:
    return response(status, [(b"Date", DATE), (b"Content-Type", b"application/json"),
                             *(extra or [])], json.dumps(payload).encode())


def html_error(status: bytes, text: str) -> bytes:
    body = f"<!DOCTYPE html>\n<html><body><h1>{text}</h1></body></html>\n".encode()
    return response(status, [(b"Date", DATE), (b"Content-Type", b"text/html; charset=utf-8")],
                    body)


LD_TITLE = "Recruiting video"
UPLOADER = "influencer_42"
VIDEO_OBJECT = {
    "@context": "https://schema.org", "@type": "VideoObject", "name": LD_TITLE,
    "description": DESCRIPTION, "uploadDate": "2026-11-02T08:15:00Z", "duration": "PT2S",
    "contentUrl": "(made absolute when served)",
    "author": {"@type": "Person", "name": UPLOADER},
    "interactionStatistic": [{"@type": "InteractionCounter",
                              "interactionType": {"@type": "WatchAction"},
                              "userInteractionCount": 12345}],
}

REMOVED = json_error(b"410 Gone", {"error": {"code": "video_removed",
                                             "message": "This video has been removed by the "
                                                        "user."}})
FAILING = {
    "/watch/login": redirect_response(b"/login?next=/watch/login"),
    "/login": response(b"200 OK", [(b"Date", DATE), (b"Content-Type", b"text/html")],
                       b"<!DOCTYPE html>\n<html><body><form action=/login method=post>"
                       b"<h1>Log in to continue</h1><input name=user></form></body></html>\n"),
    "/watch/removed": REMOVED,
    "/watch/gone": html_error(b"404 Not Found", "This video was removed"),
    "/watch/private": json_error(b"403 Forbidden", {"error": {"code": "private_video",
                                                              "message": "This video is "
                                                                         "private."}}),
    "/watch/geo": json_error(b"451 Unavailable For Legal Reasons", {
        "error": {"code": "geo_restricted",
                  "message": "This video is not available in your country."}}),
    "/watch/limited": json_error(b"429 Too Many Requests", {"error": {
        "code": "rate_limited", "message": "Too many requests, slow down."}},
        [(b"Retry-After", b"120")]),
    "/watch/blocked": html_error(b"403 Forbidden", "Access denied"),
}


@dataclass
class MediaSite:
    server: LocalServer
    files: dict[str, Path]
    removed: set[str] = field(default_factory=set)
    limited: set[str] = field(default_factory=set)

    def url(self, path: str) -> str:
        return self.server.url(path)

    def body(self, path: str) -> bytes:
        return self.files[path].read_bytes()

    def remove(self, path: str) -> None:
        self.removed.add(path)

    def rate_limit(self, path: str, on: bool = True) -> None:
        (self.limited.add if on else self.limited.discard)(path)


def serve(server: LocalServer, folder: Path) -> MediaSite:
    """Add the media site's routes to ``server``."""
    site = MediaSite(server, make_media(folder))

    def media(ex: Exchange) -> bytes:
        path = ex.request.path
        if path not in site.files:
            return html_error(b"404 Not Found", "Not found")
        kind = TYPES.get(site.files[path].suffix, b"application/octet-stream")
        head = ex.request.method == "HEAD"
        data = b"" if head else site.files[path].read_bytes()
        if head:
            return response(b"200 OK", [(b"Date", DATE), (b"Content-Type", kind),
                                        (b"Content-Length", b"%d" % site.files[path].stat()
                                         .st_size)], length=False)
        return response(b"200 OK", [(b"Date", DATE), (b"Content-Type", kind),
                                    (b"Accept-Ranges", b"none")], data)

    def page(ex: Exchange) -> bytes:
        path = ex.request.path
        if path in site.removed:
            return REMOVED
        if path in site.limited:
            return FAILING["/watch/limited"]
        if path == "/watch/video":
            return response(b"200 OK", [(b"Date", DATE),
                                        (b"Content-Type", b"text/html; charset=utf-8")],
                            video_page(TITLE, '<video controls width="160" height="120" '
                                       'src="/media/clip.webm"></video>'))
        if path == "/watch/ld":
            facts = {**VIDEO_OBJECT, "contentUrl": server.url("/media/og.mp4"),
                     "thumbnailUrl": server.url("/media/thumb.png")}
            head = f'<script type="application/ld+json">{json.dumps(facts)}</script>\n'
            return response(b"200 OK", [(b"Date", DATE),
                                        (b"Content-Type", b"text/html; charset=utf-8")],
                            video_page(LD_TITLE, "<p>A post with schema.org facts.</p>", head))
        if path == "/watch/og":
            head = ('<meta property="og:video" content="/media/og.mp4">\n'
                    '<meta property="og:video:type" content="video/mp4">\n')
            return response(b"200 OK", [(b"Date", DATE),
                                        (b"Content-Type", b"text/html; charset=utf-8")],
                            video_page("An og:video post", "<p>Watch it in the app.</p>", head))
        return FAILING.get(path) or html_error(b"404 Not Found", "Not found")

    for prefix in ("/media/", "/hls/", "/dash/"):
        server.add_route(prefix, media, prefix=True)
    server.add_route("/watch/", page, prefix=True)
    server.add_route("/login", FAILING["/login"])
    return site
