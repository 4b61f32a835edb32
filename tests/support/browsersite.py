"""A small single-page app for browser-capture tests and bench/browser.py, served by
`servers.LocalServer` (over TLS in the tests).

    /              302 → /app                      (a redirect the browser follows)
    /app           the app: fetch()es /api/content, an infinite list (/api/items?page=N,
                   loaded by an IntersectionObserver), images with loading="lazy" and
                   JS-lazy images (data-src) far below the first screen
    /static/app.js /static/app.css
    /api/content   JSON, shown in #content
    /api/items     JSON, ten items per page, never-ending
    /img/<name>    a PNG whose colour depends on the name
    /hang          a page whose image never finishes (the load event never comes)
    /busy          a page that polls /api/tick forever (the network never goes idle)
    /spin          a page whose script never ends (the renderer answers nothing)
    /download      an attachment (Chromium starts a download)
    /cookie        echoes the request's Cookie header into the page
    /tall          a page 300,000 px tall (its full-page screenshot must be cut)
    /nav/a         a page whose script navigates to /nav/b, which then moves its own URL to
                   /nav/b-shown with the history API (the banner must name that)
    /nav/late      a page whose script navigates to /nav/stall, which answers only after
                   30 s (still page /nav/late when captured: the banner must name that)
"""

from __future__ import annotations

import json
import zlib

from servers import Exchange, LocalServer, png_bytes, redirect_response, response

LAZY_IMAGES = ("lazy-1.png", "lazy-2.png")
JS_LAZY_IMAGES = ("js-lazy-1.png",)
CONTENT_TEXT = "Content loaded by fetch() from /api/content"
TALL = 300_000

APP_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>prov test app</title>
<link rel="stylesheet" href="/static/app.css">
<script src="/static/app.js" defer></script></head>
<body>
<h1>prov test app</h1>
<p id="content">loading…</p>
<div class="spacer"></div>
<h2>Lazy images</h2>
<img loading="lazy" src="/img/lazy-1.png" width="200" height="100" alt="lazy 1">
<img loading="lazy" src="/img/lazy-2.png" width="200" height="100" alt="lazy 2">
<img class="js-lazy" data-src="/img/js-lazy-1.png" width="200" height="100" alt="js lazy">
<h2>Feed</h2>
<ul id="feed"></ul>
<div id="sentinel">more…</div>
</body></html>
"""

APP_JS = """
fetch('/api/content').then(r => r.json()).then(d => {
  document.getElementById('content').textContent = d.text;
});
let page = 0, loading = false;
function more() {
  if (loading) return;
  loading = true;
  fetch('/api/items?page=' + page).then(r => r.json()).then(items => {
    const feed = document.getElementById('feed');
    for (const item of items) {
      const li = document.createElement('li');
      li.textContent = item;
      feed.appendChild(li);
    }
    page += 1;
    loading = false;
  });
}
new IntersectionObserver(entries => {
  if (entries.some(e => e.isIntersecting)) more();
}).observe(document.getElementById('sentinel'));
const lazy = new IntersectionObserver(entries => {
  for (const e of entries) {
    if (e.isIntersecting) { e.target.src = e.target.dataset.src; lazy.unobserve(e.target); }
  }
});
document.querySelectorAll('img.js-lazy').forEach(img => lazy.observe(img));
"""

APP_CSS = """body { font-family: sans-serif; margin: 0; padding: 16px; background: #fafafa; }
.spacer { height: 3000px; background: linear-gradient(#fafafa, #c8d8f0); }
#feed li { height: 80px; border-bottom: 1px solid #ccc; }
"""


def _ok(content_type: bytes, body: bytes) -> bytes:
    return response(b"200 OK", [(b"Content-Type", content_type),
                                (b"Cache-Control", b"no-store")], body)


def _items(ex: Exchange) -> bytes:
    page = int(ex.request.query.get("page", ["0"])[0])
    items = [f"item {page * 10 + i}" for i in range(10)]
    return _ok(b"application/json", json.dumps(items).encode())


def _image(ex: Exchange) -> bytes:
    seed = zlib.crc32(ex.request.path.encode())
    colour = (seed & 0xFF, (seed >> 8) & 0xFF, (seed >> 16) & 0xFF)
    return _ok(b"image/png", png_bytes(20, 10, lambda x, y: colour))


def _cookie(ex: Exchange) -> bytes:
    cookie = (ex.request.header("Cookie") or "none").replace("<", "&lt;")
    return _ok(b"text/html; charset=utf-8",
               f"<!DOCTYPE html><title>cookie</title><p id=c>{cookie}</p>".encode())


def install(server: LocalServer) -> LocalServer:
    """Add the app's routes to ``server`` (before or after it started)."""
    html = b"text/html; charset=utf-8"
    server.add_route("/", redirect_response(b"/app"))
    server.add_route("/app", _ok(html, APP_HTML.encode()))
    server.add_route("/static/app.js", _ok(b"text/javascript", APP_JS.encode()))
    server.add_route("/static/app.css", _ok(b"text/css", APP_CSS.encode()))
    server.add_route("/api/content", _ok(b"application/json",
                                         json.dumps({"text": CONTENT_TEXT}).encode()))
    server.add_route("/api/items", _items)
    server.add_route("/api/tick", _ok(b"application/json", b"{}"))
    server.add_route("/img/", _image, prefix=True)
    server.add_route("/hang", _ok(html, b"<!DOCTYPE html><title>hang</title><p>waiting"
                                        b"<img src='/slow?delay=1&pieces=600'>"))
    server.add_route("/busy", _ok(html, b"<!DOCTYPE html><title>busy</title><p>busy"
                                        b"<script>setInterval(() => fetch('/api/tick'), 100)"
                                        b"</script>"))
    server.add_route("/spin", _ok(html, b"<!DOCTYPE html><title>spin</title><p>spinning"
                                        b"<script>for (;;) {}</script>"))
    server.add_route("/download", response(b"200 OK", [
        (b"Content-Type", b"application/octet-stream"),
        (b"Content-Disposition", b'attachment; filename="report.bin"')], b"\x00" * 1000))
    server.add_route("/cookie", _cookie)
    server.add_route("/tall", _ok(html, f"<!DOCTYPE html><title>tall</title><body style="
                                        f"'margin:0'><div style='height:{TALL}px;background:"
                                        "linear-gradient(#fff,#00f)'>tall</div>".encode()))
    server.add_route("/nav/a", _ok(html, b"<!DOCTYPE html><title>page A</title><p>page A"
                                         b"<script>setTimeout(() => { location.href = "
                                         b"'/nav/b'; }, 50)</script>"))
    server.add_route("/nav/b", _ok(html, b"<!DOCTYPE html><title>page B</title><p>page B"
                                         b"<script>history.pushState({}, '', '/nav/b-shown')"
                                         b"</script>"))
    server.add_route("/nav/late", _ok(html, b"<!DOCTYPE html><title>late</title><p>late"
                                            b"<script>setTimeout(() => { location.href = "
                                            b"'/nav/stall'; }, 300)</script>"))
    server.add_route("/nav/stall", _stall)
    return server


def _stall(ex: Exchange) -> bytes | None:
    if not ex.sleep(30):
        return None
    return _ok(b"text/html", b"<!DOCTYPE html><title>stalled</title>")
