"""Rendering the exhibit report (``provenance.exports.exhibit``) as one self-contained HTML file:
inline CSS (``data/exhibit.html``), images as ``data:`` URIs, no script, nothing fetched
(links are only to anchors in the report). Every value from the evidence is HTML-escaped: a
captured page's text is hostile input. The report is produced piece by piece, each screenshot
read from its record as its page is written.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from importlib import resources

from provenance import __version__
from provenance.base import timefmt
from provenance.base.terminal import printable
from provenance.custody.case import Case
from provenance.exports.common import CaptureParts, Verdict
from provenance.exports.exhibit_media import MediaView
from provenance.exports.exhibit_model import (
    CaptureView,
    Event,
    Exchange,
    SeedView,
    Shot,
    UrlSummary,
    iter_sha256sum,
    screenshot_uri,
)
from provenance.signing.keys import SigningKey
from provenance.signing.statements import Entry


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _rows(pairs: Sequence[tuple[str, str]]) -> str:
    """A two-column table; values are already HTML."""
    return "<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in pairs) + (
        "</table>")


def _grid(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table with a header row; cells are already HTML."""
    return ('<table class="grid"><tr>' + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
            + "</table>")


def _hash(value: str) -> str:
    return f'<span class="hash">{_e(value)}</span>' if value else '<span class="muted">—</span>'


def _code(value: str) -> str:
    return f"<code>{_e(value)}</code>"


def render(case: Case, views: Sequence[CaptureView], summary: Sequence[UrlSummary],
           entries: Iterable[Entry], verdict: Verdict, key: SigningKey, at: datetime,
           founding: str) -> Iterator[str]:
    """The report in pieces; ``entries`` (the whole log, for the timeline) is read once, as
    a stream."""
    template = resources.files("provenance").joinpath("data/exhibit.html").read_text()
    top, _, bottom = template.partition("@BODY@")
    title = f"Evidence report: {case.info.title or case.info.id}"
    yield top.replace("@TITLE@", _e(title)).replace("@GENERATOR@", f"prov {__version__}")
    yield "\n".join([
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">Case {_e(case.info.id)} · generated {_e(timefmt.format_time(at))}'
        f" by prov {_e(__version__)} with key <code>{_e(key.key_id)}</code> · "
        f"{len(views)} capture(s)</p>",
        _verdict(verdict), _summary(summary), _reverify(founding)]) + "\n"
    for number, item in enumerate(views, 1):
        yield from _capture(number, item)
    yield from _timeline(entries)
    yield bottom


def _status(ex: Exchange | None) -> str:
    if ex is None:
        return '<span class="muted">no response recorded</span>'
    if not ex.status:
        return f'<span class="fail">no response: {_e(ex.error or "unknown")}</span>'
    note = " (revisit: the same as an earlier capture)" if ex.revisit else ""
    return f'<span class="status">{_e(ex.status)}</span>{_e(note)}'


def _final(seed: SeedView) -> str:
    """The final URL and its status, or "—" when the URL was not redirected."""
    if not seed.redirected:
        return '<span class="muted">— (not redirected)</span>'
    final = seed.final
    hops = len(seed.hops) - 1
    where = _code(seed.final_url or (final.url if final else ""))
    status = (_status(final) if final is not None and final.url == seed.final_url else
              '<span class="muted">not recorded in this capture</span>')
    how = (f" (after {hops} redirect(s))" if hops else "") if seed.landing in (
        None, seed.hops[-1] if seed.hops else None) else " (reached by the browser)"
    return f"{where}<br>{status}{how}"


def _summary(rows: Sequence[UrlSummary]) -> str:
    def capture(ref: tuple[int, CaptureView]) -> str:
        number, item = ref
        return (f'<a href="#capture-{number}">Capture {number}</a><br>'
                f"{_e(item.parts.seal.started_at)}")

    cells = []
    for row in rows:
        now = _status(row.now.first)
        if row.now.redirected:
            now += f"<br>→ {_final(row.now)}"
        if row.takedown is not None:
            now += (f'<br><strong class="fail">Takedown detected</strong>: '
                    f"{_e(row.takedown.what)} ({_e(row.takedown.time)})")
        cells.append([_code(row.url), capture(row.first), capture(row.last), now])
    return ("<h2>Summary</h2><p>Every URL in this report: when it was first and last "
            "captured (operator's clock, UTC) and its status at the last capture.</p>"
            + _grid(["URL", "First capture", "Last capture", "Status at last capture"], cells))


def _verdict(verdict: Verdict) -> str:
    counts = verdict.counts
    if verdict.ok:
        return ('<div class="verdict pass"><strong>Verification passed.</strong> When this '
                f"report was made, prov checked every signature, digest, seal, timestamp and "
                f"log entry of the case: {counts.get('pass', 0)} checks passed, "
                f"{counts.get('fail', 0)} failed, {counts.get('warn', 0)} warnings.</div>")
    failures = "".join(f"<li>{_e(f)}</li>" for f in verdict.failures)
    return (f'<div class="verdict fail"><strong>{_e(verdict.banner)}</strong>'
            f"<p>{counts.get('fail', 0)} checks failed, among them:</p><ul>{failures}</ul></div>")


def _reverify(founding: str) -> str:
    commands = (f"prov verify CASE-FOLDER --trust-id {founding}\n"
                "prov verify EXPORT.wacz --trust-id ...   # or a bag folder\n"
                "cd CASE-FOLDER && sha256sum -c capture-files.txt   # the lines under "
                "\"Sealed files\"")
    return ("<h2>How to re-verify</h2><p>Nothing in this report needs to be taken on trust. "
            "Anyone holding the case (or a WACZ or BagIt export of it) can repeat every check "
            "offline with prov, naming the key they expect from an independent source; each "
            "file's SHA-256 below can be recomputed with standard tools (the lines under "
            "\"Sealed files\" are in the format <code>sha256sum -c</code> reads, paths relative "
            "to the case folder, or to a bag's <code>data/</code> folder), and each trusted "
            "timestamp checked with <code>openssl ts -verify</code> (see the bag's VERIFY.txt). "
            f"The case was founded by key <code>{_e(founding)}</code>.</p>"
            f"<pre>{_e(commands)}</pre>")


def _capture(number: int, item: CaptureView) -> Iterator[str]:
    parts, seal = item.parts, item.parts.seal
    stamps = "<br>".join(f"{_e(when)} — {_e(tsa)}" for tsa, when in item.stamps) or (
        '<span class="muted">no trusted timestamp (none configured)</span>')
    note = (f'<span class="note">{_e(item.note)}</span>' if item.note else
            '<span class="muted">none</span>')
    yield "\n".join([
        f'<section class="capture" id="capture-{number}">',
        f"<h2>Capture {number}: {_e(parts.capture_id)}</h2>", _rows([
            ("Captured", f"{_e(seal.started_at)} to {_e(seal.ended_at)} (UTC, operator's clock)"),
            ("Note", note),
            ("Signed by", _code(seal.operator)),
            ("Trusted timestamps", stamps),
            ("Seal SHA-256", _hash(item.seal_sha256)),
            ("Records root", _hash("sha256:" + seal.records_root.hex())),
            ("Folder", _code(parts.capture_dir)),
        ]),
        "<h3>URLs of this capture</h3>",
        _grid(["URL", "Status", "Final URL and status"],
              [[_code(s.url), _status(s.first), _final(s)] for s in item.seeds]),
        _events(item.events)]) + "\n"
    media = {m.post: m for m in item.media}
    for seed in item.seeds:
        yield from _seed(parts, seed)
        if seed.url in media:
            yield _media(media.pop(seed.url), item.entries)
    yield "".join(_media(m, item.entries) for m in media.values())
    for shot in item.other_shots:
        yield "<h3>Another screenshot in this capture</h3>" + _figure(parts, shot)
    custody = "".join(f"<li>{_e(e.time)} — entry {e.seq}: {_e(e.action)} by "
                      f"<code>{_e(e.actor[:24])}…</code></li>" for e in item.entries)
    files = [[_code(n), _hash(h)] for n, h in item.files]
    sums = "\n".join(printable(line) for line in iter_sha256sum(item))
    yield (f"<h3>Custody of this capture</h3><ul>{custody}</ul>"
           "<h3>Sealed files</h3><p>Paths relative to the case folder (in a bag, to its "
           "<code>data/</code> folder). The same, as <code>sha256sum -c</code> reads it:</p>"
           f'<pre class="sha256sum">{_e(sums)}</pre>'
           + _grid(["File", "SHA-256"], files) + "</section>\n")


def _events(events: Sequence[Event]) -> str:
    if not events:
        return ""
    rows = [[_e(ev.time), _e("Takedown detected" if ev.action == "takedown-detected" else
                             "Change detected"),
             _code(ev.url), _e(ev.status or "—") + (
                 f"<br>final URL {_code(ev.final_url)}" if ev.final_url not in ("", ev.url)
                 else ""),
             _e(ev.what or "—") + (f"<br>compared with capture {_code(ev.previous)}"
                                   if ev.previous else ""),
             str(ev.seq)] for ev in events]
    return ("<h3>Changes and takedowns detected in this capture</h3>"
            + _grid(["Time (UTC)", "Event", "URL", "Status", "What", "Entry"], rows))


def _figure(parts: CaptureParts, shot: Shot) -> str:
    uri = screenshot_uri(parts, shot)
    if uri is None:
        return (f'<p class="muted">The screenshot of {_e(shot.url)} could not be shown (larger '
                "than 32 MiB, or its record is damaged).</p>")
    what = "full page" if shot.kind == "fullPage" else "the browser's view"
    return (f'<figure><img class="screenshot" alt="Screenshot of {_e(shot.url)}" '
            f'src="{_e(uri)}"><figcaption>Screenshot of {_e(shot.url)} ({_e(what)}) as '
            "recorded in the capture.</figcaption></figure>")


def _seed(parts: CaptureParts, seed: SeedView) -> Iterator[str]:
    final = seed.final
    yield f'<section class="page" data-url="{_e(seed.url)}"><h3>{_e(seed.url)}</h3>'
    yield '<div class="page-body"><div class="facts">'
    if final is None:
        said = f" The browser reported: {_e(seed.page_error)}" if seed.page_error else ""
        yield f'<p class="muted">No response was recorded for this URL.{said}</p>'
    else:
        chain = " → ".join(f"{_e(h.url)} ({_e(h.code or 'no response')})" for h in seed.hops)
        rows = [("URL requested", _code(seed.url)), ("Status", _status(seed.first)),
                ("Final URL", _final(seed))]
        if len(seed.hops) > 1:
            rows.append(("Redirects", chain))
        if seed.title:
            rows.append(("Page title", _e(seed.title)))
        if seed.page_error:
            rows.append(("Browser reported", f'<span class="fail">{_e(seed.page_error)}</span>'))
        rows += [
            ("Response time", _e(final.date or "—")),
            ("Server IP address", _e(final.ip or "—")),
            ("TLS certificate subject", _e(final.tls_subject or "— (not HTTPS)")),
            ("TLS certificate issuer", _e(final.tls_issuer or "—")),
            ("Payload SHA-256", _hash(final.payload_digest)),
        ]
        yield _rows(rows)
    yield "</div>"
    if seed.shot is not None:
        yield _figure(parts, seed.shot)
    yield "</div></section>\n"


FACTS = (("uploader", "Uploader"), ("uploader_id", "Uploader id"),
         ("upload_date", "Upload date"), ("timestamp", "Upload time (Unix)"),
         ("title", "Title or caption"), ("description", "Description"),
         ("duration", "Duration (s)"), ("view_count", "Views"), ("like_count", "Likes"),
         ("comment_count", "Comments"), ("repost_count", "Reposts"), ("id", "Platform id"))


def _media(view: MediaView, entries: Sequence[Entry]) -> str:
    head = f"<h3>Media of {_e(view.post)}</h3>"
    rows: list[tuple[str, str]] = []
    found = view.availability or {}
    if found:
        state = str(found.get("state"))
        rows.append(("Availability", f"<strong>{_e(state)}</strong> — {_e(found.get('reason'))}"
                     + (f" (HTTP {_e(found.get('status'))})" if found.get("status") else "")))
    rows += [("Takedown detected", f"{_e(e.details.get('reason'))} (custody entry {e.seq}, "
              f"{_e(e.time)})") for e in entries
             if e.action == "takedown-detected" and e.details.get("url") == view.post]
    if view.record_id:
        kind = ("conversion of the fetched streams" if view.warc_type == "conversion"
                else "the fetched file as sent")
        rows += [("Media record", f"<code>{_e(view.record_id)}</code> ({_e(view.warc_type)}: "
                  f"{_e(kind)})"),
                 ("Media SHA-256", _hash(view.digest)),
                 ("Size and type", f"{view.size:,} bytes, {_e(view.content_type)}")]
        if view.refers_to:
            rows.append(("Made from", f"<code>{_e(view.refers_to)}</code>"))
    rows += [(label, _e(view.facts[key])) for key, label in FACTS
             if view.facts.get(key) not in (None, "")]
    if view.extractor or view.yt_dlp:
        rows.append(("Read by", f"yt-dlp {_e(view.yt_dlp)}, extractor {_e(view.extractor)}"))
    out = head + _rows(rows)
    if view.still:
        out += (f'<figure><img class="still" alt="Still frame of {_e(view.post)}" '
                f'src="{_e(view.still)}"><figcaption>First frame of the media record, decoded '
                f"by ffmpeg; still PNG {_e(view.still_sha256)}.</figcaption></figure>")
    elif view.still_note and view.record_id:
        out += f'<p class="muted">{_e(view.still_note)}</p>'
    return out


def _timeline(entries: Iterable[Entry]) -> Iterator[str]:
    yield ('<h2>Custody timeline</h2><p>Every entry of the case\'s signed custody log, in '
           'order. Each is signed by the key shown and chained into a Merkle tree with '
           'signed checkpoints.</p><table class="grid"><tr><th>#</th><th>Time (UTC)</th>'
           "<th>Action</th><th>Key</th><th>Details</th></tr>")
    for e in entries:
        what = ", ".join(f"{k}: {v}" for k, v in sorted(e.details.items())
                         if k in ("captureId", "kind", "destination", "tsa", "note", "to",
                                  "disposition", "title", "urls", "failed", "reason", "url",
                                  "status"))
        yield (f"<tr><td>{e.seq}</td><td>{_e(e.time)}</td><td>{_e(e.action)}</td>"
               f"<td><code>{_e(e.actor[:24])}…</code></td><td>{_e(what)}</td></tr>")
    yield "</table>"
