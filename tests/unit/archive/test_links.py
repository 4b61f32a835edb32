"""archive.http.links: requisites and links of HTML and CSS (HTML Living Standard, CSS Syntax 3),
and bounded Content-Encoding decoding (RFC 9110 section 8.4) that a bomb cannot blow up."""

from __future__ import annotations

import gzip
import subprocess
import sys
import tracemalloc
import zlib
from collections.abc import Callable

import brotli  # type: ignore[import-untyped]
import pytest
from helpers import gzip_bomb
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.http.links import MAX_DECODED, Links, decode_body, extract

PAGE_URL = "https://example.org/news/2024/article.html"
BASE = "https://example.org/news/2024/"  # what the page's <base href> resolves to

PAGE = b"""<!DOCTYPE html>
<HTML lang=en>
<HEAD>
<META CHARSET="utf-8">
<title>City council votes \xe2\x80\x94 Example News</title>
<base href="/news/2024/">
<link rel="stylesheet" href="../../static/site.css?v=3">
<LINK REL="Shortcut Icon" HREF="/favicon.ico">
<link rel="icon" type="image/png" sizes="32x32" href="/icons/32.png">
<link rel="apple-touch-icon" href="/icons/apple.png">
<link rel="preload" as="font" href="/fonts/body.woff2" crossorigin>
<link rel="preload" as="image" href="/hero.jpg" imagesrcset="/hero-1x.jpg 1x, /hero-2x.jpg 2x">
<link rel="modulepreload" href="/js/app.mjs">
<link rel="manifest" href="/site.webmanifest">
<link rel="canonical" href="https://example.org/news/2024/article">
<link rel="alternate" type="application/rss+xml" href="/feed.xml">
<link rel="dns-prefetch" href="//cdn.example.net">
<style>
  @import "print.css" print;
  /* .old { background: url(commented-out.png) } */
  .hero { background: url("img/hero-bg.jpg") no-repeat; }
</style>
<script src="https://cdn.example.net/lib.js#v1"></script>
<script>var u = "url(not-css.png)"; document.write('<img src="inline-js.png">');</script>
</HEAD>
<BODY STYLE="background-image:url('img/body-bg.png')">
<nav><a href="/">Home</a> <A HREF="../archive.html#top">Archive</A> <a href="#comments">#</a>
<a href="javascript:void(0)">Menu</a> <a href="mailto:desk@example.org">Mail</a>
<a href="/">Home again</a></nav>
<!-- <img src="img/in-a-comment.png"> -->
<picture>
  <source type="image/avif" srcset="img/a,1.avif 1x, img/a,2.avif 2x">
  <source media="(min-width: 800px)" srcset="img/wide.jpg 1600w, img/narrow.jpg 800w"
          sizes="(max-width: 800px) 100vw, 50vw">
  <img src="img/fallback.jpg" srcset="img/fallback.jpg 1x, img/fallback@2x.jpg 2x" alt="">
</picture>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="pixel">
<img src="//static.example.net/pixel.gif">
<video src="media/clip.mp4" poster="media/poster.jpg">
  <source src="media/clip.webm" type="video/webm"><track src="media/clip.vtt" kind="captions">
</video>
<audio src="media/podcast.mp3"></audio>
<embed src="media/chart.svg"><object data="media/doc.pdf"></object>
<form><input type="IMAGE" src="img/submit.png"><input type="text" src="img/not-an-image.png">
<iframe src="https://video.example.com/embed/42?autoplay=0#t=10"></iframe>
<map name="m"><area href="region.html" shape="rect" coords="0,0,1,1"></map>
<p>Unclosed paragraph <b>bold <i>overlapping</b> tags</i>
<div><img src=img/unquoted.png><img src="  img/fallback.jpg  "></span></div>
<img src="blob:https://example.org/0c7e"><img src="about:blank"><img src="">
<a href="https://other.example/story?id=7&amp;ref=home#frag">Other story</a>
</BODY></HTML>
"""

PAGE_REQUISITES = (
    "https://example.org/static/site.css?v=3",
    "https://example.org/favicon.ico",
    "https://example.org/icons/32.png",
    "https://example.org/icons/apple.png",
    "https://example.org/fonts/body.woff2",
    "https://example.org/hero.jpg",
    "https://example.org/hero-1x.jpg",
    "https://example.org/hero-2x.jpg",
    "https://example.org/js/app.mjs",
    "https://example.org/site.webmanifest",
    BASE + "print.css",
    BASE + "img/hero-bg.jpg",
    "https://cdn.example.net/lib.js",
    BASE + "img/body-bg.png",
    BASE + "img/a,1.avif",
    BASE + "img/a,2.avif",
    BASE + "img/wide.jpg",
    BASE + "img/narrow.jpg",
    BASE + "img/fallback.jpg",
    BASE + "img/fallback@2x.jpg",
    "https://static.example.net/pixel.gif",
    BASE + "media/clip.mp4",
    BASE + "media/poster.jpg",
    BASE + "media/clip.webm",
    BASE + "media/clip.vtt",
    BASE + "media/podcast.mp3",
    BASE + "media/chart.svg",
    BASE + "media/doc.pdf",
    BASE + "img/submit.png",
    "https://video.example.com/embed/42?autoplay=0",
    BASE + "img/unquoted.png",
    # blob:, about: and src="" (which HTML says fetches nothing) are not here
)

PAGE_LINKS = (
    "https://example.org/",
    "https://example.org/news/archive.html",
    BASE,  # "#comments" resolves against <base href>, as in a browser
    BASE + "region.html",
    "https://other.example/story?id=7&ref=home",
)


def html_links(markup: str | bytes, url: str = PAGE_URL, **kwargs: str) -> Links:
    body = markup.encode() if isinstance(markup, str) else markup
    return extract(body, kwargs.pop("content_type", "text/html"), url, **kwargs)


def test_realistic_page() -> None:
    found = html_links(PAGE)
    assert found.requisites == PAGE_REQUISITES
    assert found.links == PAGE_LINKS
    assert not found.truncated


def test_realistic_page_gzipped_with_charset_parameter() -> None:
    found = extract(gzip.compress(PAGE), 'text/html; charset="UTF-8"', PAGE_URL,
                    content_encoding="gzip")
    assert (found.requisites, found.links, found.truncated) == (PAGE_REQUISITES, PAGE_LINKS, False)


@pytest.mark.parametrize("content_type", ["application/xhtml+xml", "TEXT/HTML ; charset=utf-8"])
def test_html_media_types(content_type: str) -> None:
    assert html_links('<img src="a.png">', content_type=content_type).requisites == (
        BASE + "a.png",
    )


def test_frames_are_requisites() -> None:
    found = html_links('<frameset><FRAME SRC="top.html#x"><frame src="/main.html"></frameset>')
    assert found.requisites == (BASE + "top.html", "https://example.org/main.html")
    assert found.links == ()


@pytest.mark.parametrize(
    ("srcset", "expected"),
    [
        ("a.jpg", ["a.jpg"]),
        ("a.jpg 1x,b.jpg 2x", ["a.jpg", "b.jpg"]),
        ("a,b.jpg 1x, c.jpg", ["a,b.jpg", "c.jpg"]),
        ("a.jpg, b.jpg,", ["a.jpg", "b.jpg"]),
        ("a.jpg future(1, 2) 2x, b.jpg 3x", ["a.jpg", "b.jpg"]),
        ("  \n a.jpg 100w ,\t b.jpg 200w  ", ["a.jpg", "b.jpg"]),
        ("data:image/png;base64,AAAA 1x, c.jpg 2x", ["c.jpg"]),
        (",,, ", []),
    ],
)
def test_srcset(srcset: str, expected: list[str]) -> None:
    found = html_links(f'<img srcset="{srcset}">', "https://example.org/p/")
    assert found.requisites == tuple(f"https://example.org/p/{url}" for url in expected)


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://cdn.example.net/assets/", "https://cdn.example.net/assets/x.png"),
        ("//mirror.example.net/", "https://mirror.example.net/x.png"),
        ("sub/", "https://example.org/dir/sub/x.png"),
        ("javascript:alert(1)", "https://example.org/dir/x.png"),  # not http(s): ignored
        ("http://[::1", "https://example.org/dir/x.png"),  # unparseable: ignored
    ],
)
def test_base_href(base: str, expected: str) -> None:
    markup = f'<base href="{base}"><base href="/second/"><img src="x.png">'
    assert html_links(markup, "https://example.org/dir/page").requisites == (expected,)


def test_skipped_schemes_and_broken_urls() -> None:
    markup = """<a href="data:text/html,hi">d</a><a href="javascript:go()">j</a>
    <a href="mailto:a@b.example">m</a><a href="about:blank">a</a><a href="blob:x">b</a>
    <a href="ftp://files.example/x">f</a><a href="http://[::1">v6</a><a href="http:///x">h</a>
    <a href="HTTP://Upper.Example/Path?q=1&amp;r=%20#f">u</a><a href=" https://t.example/\t1\n">t</a>"""
    found = html_links(markup)
    assert found.links == ("HTTP://Upper.Example/Path?q=1&r=%20", "https://t.example/1")


def test_charset_from_meta_from_content_type_and_bom() -> None:
    latin = '<meta charset="windows-1252"><img src="café.png">'.encode("cp1252")
    assert html_links(latin, "https://example.org/").requisites == ("https://example.org/café.png",)
    http_equiv = (
        '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
        '<img src="café.png">'
    ).encode("latin-1")
    assert html_links(http_equiv, "https://example.org/").requisites == (
        "https://example.org/café.png",
    )
    # the transport's charset beats <meta>; a BOM beats both
    koi8 = '<meta charset="utf-8"><img src="дом.png">'.encode("koi8-r")
    found = html_links(koi8, "https://example.org/", content_type="text/html; charset=koi8-r")
    assert found.requisites == ("https://example.org/дом.png",)
    utf16 = b"\xff\xfe" + '<img src="ü.png">'.encode("utf-16-le")
    found = html_links(utf16, "https://example.org/", content_type="text/html; charset=latin-1")
    assert found.requisites == ("https://example.org/ü.png",)
    broken = b'<img src="a\xff\xfe.png"><meta charset="no-such-encoding">'
    assert html_links(broken, "https://example.org/").requisites == (
        "https://example.org/a\ufffd\ufffd.png",
    )


CSS_URL = "https://example.org/static/css/site.css"
STYLESHEET = rb"""@charset "utf-8";
@import "reset.css";
@import 'theme.css' screen;
@import url(print.css) print;
@IMPORT url("fonts.css") layer(base) supports(display: grid);
@namespace svg url(http://www.w3.org/2000/svg);
/* .old { background: url(commented-out.png) } @import "commented.css"; */
@font-face { font-family: X; src: url(../fonts/x.woff2) format("woff2"),
             url('../fonts/x.woff') format("woff"); }
.a { background: url(  ../img/unquoted.png  ) }
.b { background: URL("../img/double.png") }
.c { background: url('../img/single.png') }
.d { background: url(../img/esc\)aped.png) }
.e { background: url("../img/quote\"d.png") }
.f { background: url(../img/\28 hex\29.png) }
.g { background-image: image-set("../img/set-1x.png" 1x, url(../img/set-2x.png) 2x); }
.g2 { background-image: -webkit-image-set('../img/wk.png' 1x); }
.h { background: url(data:image/png;base64,iVBORw0KGgo=) }
.i { cursor: url(/cursors/hand.cur), pointer; }
.j { background: url(../img/unquoted.png) }
.k { background: url(https://cdn.example.net/bg.png#frag) }
.l::before { content: "url(not-a-url.png)"; }
.m { mask: url(#svg-mask) }
@media (min-width: 600px) { .n { background: url(//cdn.example.net/wide.png?w=2) } }
.o { background: url(../img/bad url.png) }
.p { background: src("../img/src-function.png") }
"""


def test_stylesheet() -> None:
    found = extract(STYLESHEET, "text/css; charset=utf-8", CSS_URL)
    css = "https://example.org/static/css/"
    assert found.requisites == (
        css + "reset.css",
        css + "theme.css",
        css + "print.css",
        css + "fonts.css",
        "https://example.org/static/fonts/x.woff2",
        "https://example.org/static/fonts/x.woff",
        "https://example.org/static/img/unquoted.png",
        "https://example.org/static/img/double.png",
        "https://example.org/static/img/single.png",
        "https://example.org/static/img/esc)aped.png",
        'https://example.org/static/img/quote"d.png',
        "https://example.org/static/img/(hex).png",
        "https://example.org/static/img/set-1x.png",
        "https://example.org/static/img/set-2x.png",
        "https://example.org/static/img/wk.png",
        "https://example.org/cursors/hand.cur",
        "https://cdn.example.net/bg.png",
        "https://cdn.example.net/wide.png?w=2",
        "https://example.org/static/img/src-function.png",
    )
    assert found.links == ()
    assert not found.truncated


def test_style_attribute_and_element_with_comments_and_escapes() -> None:
    markup = r"""<style>/* url(no-1.png) */ p { background: url(a\,b.png) }</style>
    <p style="/* url(no-2.png) */ background: url( 'c.png' ) ; border-image: url(d\ e.png)">
    <p style="background: url(#local)">"""
    assert html_links(markup, "https://example.org/").requisites == (
        "https://example.org/a,b.png",
        "https://example.org/c.png",
        "https://example.org/d e.png",
    )


def test_stylesheet_encoding_and_bytes_not_css() -> None:
    latin = '@charset "iso-8859-1"; a { background: url(ça.png) }'.encode("latin-1")
    assert extract(latin, "text/css", CSS_URL).requisites == (
        "https://example.org/static/css/ça.png",
    )
    for content_type in (None, "", "image/png", "text/plain", "application/json", "text/htm"):
        assert extract(b'<img src="a.png">', content_type, PAGE_URL) == Links()


def test_deep_nesting_does_not_overflow() -> None:
    css = "a{b:" + "(" * 100_000 + "url(deep.png)" + ")" * 100_000 + "}"
    found = extract(css.encode(), "text/css", "https://example.org/")
    assert found.requisites == ("https://example.org/deep.png",)
    # lexbor's time grows with the square of the depth of nested <div>s (HTML's "has an
    # element in scope" walks the stack of open elements), so the depth here stays modest
    html = "<div>" * 5_000 + '<img src="deep.png">'
    assert html_links(html, "https://example.org/").requisites == ("https://example.org/deep.png",)


# -- decoding -------------------------------------------------------------------------------

TEXT = b"".join(b"line %d of a page that compresses well\n" % i for i in range(5000))


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        (None, lambda b: b),
        ("", lambda b: b),
        ("identity", lambda b: b),
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("GZIP", gzip.compress),
        ("gzip", zlib.compress),  # zlib mislabelled as gzip, as some servers send it
        ("deflate", zlib.compress),  # RFC 9110: zlib format
        ("deflate", raw_deflate),  # raw deflate, as some servers send it
        ("br", brotli.compress),
        ("gzip, br", lambda b: brotli.compress(gzip.compress(b))),  # applied in listed order
        ("deflate,identity, gzip", lambda b: gzip.compress(zlib.compress(b))),
    ],
)
def test_decode(coding: str | None, encode: Callable[[bytes], bytes]) -> None:
    assert decode_body(encode(TEXT), coding) == (TEXT, False)


def test_decode_multi_member_gzip_and_trailing_padding() -> None:
    members = gzip.compress(b"one ") + gzip.compress(b"two")
    assert decode_body(members, "gzip") == (b"one two", False)
    assert decode_body(gzip.compress(b"one") + b"\0\0\0", "gzip") == (b"one", False)


def test_decode_limit_is_exact() -> None:
    body = gzip.compress(bytes(1000))
    assert decode_body(body, "gzip", limit=1000) == (bytes(1000), False)
    assert decode_body(body, "gzip", limit=999) == (bytes(999), True)
    assert decode_body(bytes(1000), None, limit=10) == (bytes(10), True)
    assert decode_body(brotli.compress(bytes(1000)), "br", limit=999) == (bytes(999), True)


def test_brotli_bound_holds_when_another_brotli_took_the_name() -> None:
    """pywb's brotlipy registers its cffi module as ``_brotli`` and shadows ``brotli``: a
    module of that name planted first must not replace Google's bounded decoder."""
    code = (
        "import sys, types\n"
        "sys.modules['_brotli'] = types.ModuleType('_brotli')  # brotlipy's cffi module\n"
        "from archive.http.links import brotli, decode_body\n"
        "assert brotli is not sys.modules['_brotli']\n"
        f"data = bytes.fromhex('{brotli.compress(bytes(1 << 20)).hex()}')\n"
        "assert decode_body(data, 'br', limit=999) == (bytes(999), True)\n"
        "print('bounded')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "bounded\n"


@pytest.mark.parametrize("coding", ["compress", "zstd", "gzip, bogus", "x-unknown"])
def test_decode_unknown_coding(coding: str) -> None:
    assert decode_body(gzip.compress(TEXT), coding) == (b"", True)
    found = extract(gzip.compress(PAGE), "text/html", PAGE_URL, content_encoding=coding)
    assert found == Links(truncated=True)


def test_decode_empty_body() -> None:
    for coding in ("gzip", "deflate", "br", "gzip, br"):
        assert decode_body(b"", coding) == (b"", False)


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", b"this is not gzip at all"),
        ("gzip", b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4),
        ("gzip", gzip.compress(TEXT)[:-9]),  # cut short: no trailer
        ("gzip", gzip.compress(TEXT)[: len(gzip.compress(TEXT)) // 2]),
        ("gzip", gzip.compress(TEXT)[:-4] + b"\0\0\0\0"),  # wrong length in the trailer
        ("deflate", b"\x78\x9c" + b"\xff" * 50),
        ("deflate", zlib.compress(TEXT)[:100]),
        ("br", b"\xff" * 40),
        ("br", brotli.compress(TEXT)[:50]),
    ],
)
def test_decode_garbage_is_partial_not_an_exception(coding: str, body: bytes) -> None:
    decoded, truncated = decode_body(body, coding)
    assert truncated
    assert TEXT.startswith(decoded) or not decoded


def test_gzip_bomb_builder_is_valid_gzip() -> None:
    assert gzip.decompress(gzip_bomb(5)) == bytes(5 << 20)


def test_gzip_bomb_stops_at_the_limit_in_bounded_memory() -> None:
    bomb = gzip_bomb(1024)  # 1 GiB of zeros
    assert len(bomb) < 2 << 20
    tracemalloc.start()
    try:
        decoded, truncated = decode_body(bomb, "gzip")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (len(decoded), truncated) == (MAX_DECODED, True)
    assert decoded == bytes(MAX_DECODED)
    assert peak < 4 * MAX_DECODED  # what it holds is a few times the limit, not the gigabyte


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("deflate", zlib.compress),
        ("deflate", raw_deflate),
        ("br", lambda data: brotli.compress(data, quality=5)),
    ],
)
def test_other_bombs_stop_at_the_limit(coding: str, encode: Callable[[bytes], bytes]) -> None:
    bomb = encode(bytes(64 << 20))
    limit = 1 << 20
    tracemalloc.start()
    try:
        decoded, truncated = decode_body(bomb, coding, limit=limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (decoded, truncated) == (bytes(limit), True)
    assert peak < 4 * limit + len(bomb)


def test_extract_reports_a_truncated_page() -> None:
    head = b'<!doctype html><link rel=stylesheet href="/s.css"><a href="/next">n</a><p>'
    body = gzip.compress(head + b" " * (MAX_DECODED + 1000) + b'<img src="/late.png">')
    found = extract(body, "text/html", PAGE_URL, content_encoding="gzip")
    assert found == Links(("https://example.org/s.css",), ("https://example.org/next",), True)


# -- never raises ----------------------------------------------------------------------------

FRAGMENTS = [
    "<img src=", "<a href=", "<link rel=stylesheet href=", "<base href=", "<style>", "</style>",
    "<source srcset=", "<input type=image src=", " style=", '"', "'", ">", "<", ",", " ", "1x",
    "(", ")", "url(", "@import ", "@namespace ", "image-set(", "/*", "*/", "\\", "#", "//",
    "http://[::1", "data:", "javascript:", "https://a.example/", "\x00", "é", "\ufeff", ";",
    "<meta charset=", "utf-16", "x-user-defined", "{", "}", "<!--", "<script>", "<frameset>",
    "a.png", "/b/", "?q=1", "<img src=a.png>", "<a href=/next>", "url(c.png)", '"d.css";',
]
markup = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)
bodies = st.one_of(
    st.binary(max_size=2000),
    markup.map(str.encode),
    markup.map(lambda text: gzip.compress(text.encode())),
    markup.map(lambda text: text.encode("utf-16")),
)
content_types = st.one_of(
    st.none(),
    st.sampled_from([
        "text/html", "text/css", "application/xhtml+xml", "text/html; charset=utf-16",
        "text/css; charset=koi8-r", "text/html; charset=", "text/html; charset=\"\"",
        "text/css;charset=bogus", "image/png",
    ]),
    st.text(max_size=40),
)
encodings = st.one_of(
    st.none(), st.sampled_from(["gzip", "deflate", "br", "identity", "gzip, br", "compress"]),
    st.text(max_size=20),
)
bases = st.one_of(
    st.sampled_from([PAGE_URL, "http://[::1", "", "file:///etc/", "https://a.example/?q#f"]),
    st.text(max_size=30),
)


@settings(max_examples=300, deadline=None)
@given(body=bodies, content_type=content_types, content_encoding=encodings, base_url=bases)
def test_extract_never_raises(
    body: bytes, content_type: str | None, content_encoding: str | None, base_url: str
) -> None:
    found = extract(body, content_type, base_url, content_encoding=content_encoding)
    for url in found.requisites + found.links:
        assert url.lower().startswith(("http://", "https://"))
        assert "#" not in url
    assert len(set(found.requisites)) == len(found.requisites)
    assert len(set(found.links)) == len(found.links)


@settings(max_examples=300, deadline=None)
@given(text=markup, content_type=st.sampled_from(["text/html", "text/css"]), gzipped=st.booleans())
def test_extract_on_near_markup(text: str, content_type: str, gzipped: bool) -> None:
    body = gzip.compress(text.encode()) if gzipped else text.encode()
    found = extract(body, content_type, PAGE_URL, content_encoding="gzip" if gzipped else None)
    assert not found.truncated
    for url in found.requisites + found.links:
        assert url.startswith(("http://", "https://")) and "#" not in url
    if content_type == "text/css":
        assert found.links == ()
