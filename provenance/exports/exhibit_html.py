"""Rendering the exhibit report (``provenance.exports.exhibit``) as one self-contained HTML file:
inline CSS (``data/exhibit.html``), images as ``data:`` URIs, no script, nothing fetched.
Every value from the evidence is HTML-escaped: a captured page's text is hostile input.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from importlib import resources

from provenance import __version__
from provenance.base import timefmt
from provenance.custody.case import Case
from provenance.exports.common import Verdict
from provenance.exports.exhibit import CaptureView, SeedView
from provenance.exports.exhibit_media import MediaView
from provenance.signing.keys import SigningKey
from provenance.signing.statements import Entry


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _rows(pairs: Sequence[tuple[str, str]]) -> str:
    """A two-column table; values are already HTML."""
    return "<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in pairs) + (
        "</table>")


def _hash(value: str) -> str:
    return f'<span class="hash">{_e(value)}</span>' if value else '<span class="muted">—</span>'


def render(case: Case, views: Sequence[CaptureView], entries: Sequence[Entry],
           verdict: Verdict, key: SigningKey, at: datetime, founding: str) -> str:
    template = resources.files("provenance").joinpath("data/exhibit.html").read_text()
    title = f"Evidence report: {case.info.title or case.info.id}"
    body = [f"<h1>{_e(title)}</h1>",
            f'<p class="meta">Case {_e(case.info.id)} · generated {_e(timefmt.format_time(at))}'
            f" by prov {_e(__version__)} with key <code>{_e(key.key_id)}</code> · "
            f"{len(views)} capture(s)</p>",
            _verdict(verdict), _reverify(case, founding)]
    for number, item in enumerate(views, 1):
        body.append(_capture(number, item))
    body.append(_timeline(entries))
    return (template.replace("@TITLE@", _e(title)).replace("@GENERATOR@", f"prov {__version__}")
            .replace("@BODY@", "\n".join(body)))


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


def _reverify(case: Case, founding: str) -> str:
    commands = (f"prov verify CASE-FOLDER --trust-id {founding}\n"
                "prov verify EXPORT.wacz --trust-id ...   # or a bag folder\n"
                "sha256sum data-00000.warc.gz             # compare with the sealed hash below")
    return ("<h2>How to re-verify</h2><p>Nothing in this report needs to be taken on trust. "
            "Anyone holding the case (or a WACZ or BagIt export of it) can repeat every check "
            "offline with prov, naming the key they expect from an independent source; each "
            "file's SHA-256 below can be recomputed with standard tools, and each trusted "
            "timestamp checked with <code>openssl ts -verify</code> (see the bag's VERIFY.txt). "
            f"The case was founded by key <code>{_e(founding)}</code>.</p>"
            f"<pre>{_e(commands)}</pre>")


def _capture(number: int, item: CaptureView) -> str:
    parts, seal = item.parts, item.parts.seal
    stamps = "<br>".join(f"{_e(when)} — {_e(tsa)}" for tsa, when in item.stamps) or (
        '<span class="muted">no trusted timestamp (none configured)</span>')
    out = [f"<h2>Capture {number}: {_e(parts.capture_id)}</h2>", _rows([
        ("Captured", f"{_e(seal.started_at)} to {_e(seal.ended_at)} (UTC, operator's clock)"),
        ("Signed by", f"<code>{_e(seal.operator)}</code>"),
        ("Trusted timestamps", stamps),
        ("Seal SHA-256", _hash(item.seal_sha256)),
        ("Records root", _hash("sha256:" + seal.records_root.hex())),
        ("Folder", f"<code>{_e(parts.capture_dir)}</code>"),
    ])]
    if item.screenshot is not None:
        shown, uri = item.screenshot
        out.append(f'<figure><img class="screenshot" alt="Screenshot of {_e(shown)}" '
                   f'src="{_e(uri)}"><figcaption>Screenshot of {_e(shown)} as recorded in the '
                   "capture (full page).</figcaption></figure>")
    else:
        out.append('<p class="muted">This capture has no screenshot (HTTP capture).</p>')
    media = {m.post: m for m in item.media}
    for seed in item.seeds:
        out.append(_seed(seed))
        if seed.url in media:
            out.append(_media(media.pop(seed.url), item.entries))
    out += [_media(m, item.entries) for m in media.values()]
    custody = "".join(f"<li>{_e(e.time)} — entry {e.seq}: {_e(e.action)} by "
                      f"<code>{_e(e.actor[:24])}…</code></li>" for e in item.entries)
    out.append(f"<h3>Custody of this capture</h3><ul>{custody}</ul>")
    files = "".join(f"<tr><td><code>{_e(n)}</code></td><td>{_hash(h)}</td></tr>"
                    for n, h in item.files)
    out.append(f'<h3>Sealed files</h3><table class="grid"><tr><th>File</th><th>SHA-256</th>'
               f"</tr>{files}</table>")
    return "\n".join(out)


def _seed(seed: SeedView) -> str:
    final = seed.final
    head = f"<h3>{_e(seed.url)}</h3>"
    if final is None:
        return head + '<p class="muted">No response was recorded for this URL.</p>'
    return head + _rows([
        ("URL requested", f"<code>{_e(seed.url)}</code>"),
        ("Final URL", f"<code>{_e(final.url)}</code>" + (
            f" (after {len(seed.hops) - 1} redirect(s))" if len(seed.hops) > 1 else "")),
        ("Response time", _e(final.date or "—")),
        ("Status", _e(final.status or final.error or "—")),
        ("Server IP address", _e(final.ip or "—")),
        ("TLS certificate subject", _e(final.tls_subject or "— (not HTTPS)")),
        ("TLS certificate issuer", _e(final.tls_issuer or "—")),
        ("Payload SHA-256", _hash(final.payload_digest)),
    ])


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


def _timeline(entries: Sequence[Entry]) -> str:
    rows = []
    for e in entries:
        what = ", ".join(f"{k}: {v}" for k, v in sorted(e.details.items())
                         if k in ("captureId", "kind", "destination", "tsa", "note", "to",
                                  "disposition", "title", "urls", "failed", "reason"))
        rows.append(f"<tr><td>{e.seq}</td><td>{_e(e.time)}</td><td>{_e(e.action)}</td>"
                    f"<td><code>{_e(e.actor[:24])}…</code></td><td>{_e(what)}</td></tr>")
    return ('<h2>Custody timeline</h2><p>Every entry of the case\'s signed custody log, in '
            'order. Each is signed by the key shown and chained into a Merkle tree with '
            'signed checkpoints.</p><table class="grid"><tr><th>#</th><th>Time (UTC)</th>'
            f"<th>Action</th><th>Key</th><th>Details</th></tr>{''.join(rows)}</table>")
