"""What a captured page needs (its requisites) and where it links, found by real parsers.

HTML is parsed by lexbor (selectolax), which follows the HTML Living Standard's tree
construction, so malformed markup yields the tree a browser builds. URL-bearing attributes are
those of the Living Standard: ``srcset`` ("parse a srcset attribute", section 4.8.4.3), link
types (section 4.6.6), ``<base href>`` (section 4.2.3, "frozen base URL"). The encoding is a
BOM, else the transport's ``charset``, else ``<meta charset>`` (section 13.2.3, "the input
byte stream"), with labels per the WHATWG Encoding Standard. CSS, in ``text/css`` bodies,
``<style>`` elements and ``style`` attributes, is tokenized by tinycss2 (CSS Syntax Level 3):
``<url-token>``, ``url("...")``/``src("...")`` functions, ``image-set()`` strings and
``@import "..."``. Comments are never tokenized, so a ``url()`` inside one is ignored.

Bodies are decoded per RFC 9110 section 8.4 (Content-Encoding) with bounded output: a gzip
bomb inflates to at most ``limit`` bytes and the result says it was cut. Time is not bounded:
HTML's scope checks make lexbor quadratic in the depth of nested ``<div>``s (50,000 take
seconds), so a caller that fears hostile pages runs ``extract`` where it can be stopped.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import tinycss2  # type: ignore[import-untyped, unused-ignore]
import webencodings  # type: ignore[import-untyped, unused-ignore]
from selectolax.lexbor import LexborHTMLParser, LexborNode

MAX_DECODED = 16 << 20


def _google_brotli() -> Any:
    """Google's Brotli C module (the ``brotli`` distribution), whatever else is installed.

    pywb (``prov[replay]``) depends on brotlipy: its package ``brotli/`` shadows Google's
    ``brotli.py``, and once imported its cffi module holds the name ``_brotli`` in
    ``sys.modules``. It lacks ``process(..., output_buffer_limit=)``, which keeps a brotli
    bomb at ``limit`` bytes, so Google's module is found on the path and, if its name is
    taken, loaded under one of its own."""
    taken = sys.modules.get("_brotli")
    if taken is not None and hasattr(taken, "Decompressor"):
        return taken
    found = importlib.machinery.PathFinder.find_spec("_brotli")
    if found is None or found.origin is None:
        raise ImportError("Google's Brotli is not installed (pip install brotli)")
    if taken is None:
        return importlib.import_module("_brotli")
    spec = importlib.util.spec_from_file_location("archive._brotli", found.origin)
    assert spec is not None and spec.loader is not None  # found.origin is an extension file
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


brotli = _google_brotli()
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
CSS_TYPE = "text/css"
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_URL_ATTRS: dict[str, tuple[str, ...]] = {
    "img": ("src", "srcset"), "source": ("src", "srcset"), "video": ("src", "poster"),
    "audio": ("src",), "script": ("src",), "track": ("src",), "embed": ("src",),
    "iframe": ("src",), "frame": ("src",), "object": ("data",),
}
_LINK_RELS = frozenset({"stylesheet", "icon", "apple-touch-icon", "apple-touch-icon-precomposed",
                        "preload", "modulepreload", "manifest"})
_CSS_URL_FUNCTIONS = frozenset({"url", "src"})
_IMAGE_SETS = frozenset({"image-set", "-webkit-image-set"})
_HTML_SPACE = " \t\n\f\r"


@dataclass(frozen=True)
class Links:
    """URLs found in one body: absolute http(s), fragment removed, de-duplicated, in order."""

    requisites: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    truncated: bool = False  # decoding hit the limit or failed: what was parsed is partial


def _inflate(data: bytes, limit: int, wbits: int) -> tuple[bytes, bool]:
    out = bytearray()
    inflater = zlib.decompressobj(wbits)
    pending = data
    while True:
        try:
            # one byte over the limit tells "exactly limit" from "more was coming"
            out += inflater.decompress(pending, limit + 1 - len(out))
        except zlib.error:
            return bytes(out), True
        if len(out) > limit:
            del out[limit:]
            return bytes(out), True
        if inflater.eof:
            pending = inflater.unused_data  # another gzip member may follow (RFC 1952)
            if wbits > zlib.MAX_WBITS and pending[:2] == b"\x1f\x8b":
                inflater = zlib.decompressobj(wbits)
                continue
            return bytes(out), False
        if not inflater.unconsumed_tail:
            return bytes(out), True  # the stream stopped before its end
        pending = inflater.unconsumed_tail


def _gunzip(data: bytes, limit: int) -> tuple[bytes, bool]:
    return _inflate(data, limit, 32 + zlib.MAX_WBITS)  # gzip, or zlib mislabelled as gzip


def _deflate(data: bytes, limit: int) -> tuple[bytes, bool]:
    # RFC 9110 says zlib (RFC 1950); some servers send raw deflate (RFC 1951), as browsers allow
    zlib_header = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
    return _inflate(data, limit, zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)


def _unbrotli(data: bytes, limit: int) -> tuple[bytes, bool]:
    out = bytearray()
    decoder = brotli.Decompressor()
    try:
        out += decoder.process(data, output_buffer_limit=limit + 1)
        while len(out) <= limit and not decoder.can_accept_more_data():
            out += decoder.process(b"", output_buffer_limit=limit + 1 - len(out))
    except brotli.error:
        return bytes(out), True
    cut = len(out) > limit or not decoder.is_finished()
    del out[limit:]
    return bytes(out), cut


_DECODERS: dict[str, Callable[[bytes, int], tuple[bytes, bool]]] = {
    "gzip": _gunzip, "x-gzip": _gunzip, "deflate": _deflate, "br": _unbrotli,
}


def decode_body(
    body: bytes, content_encoding: str | None, *, limit: int = MAX_DECODED
) -> tuple[bytes, bool]:
    """Undo Content-Encoding (codings listed in the order applied, so undone in reverse).

    Returns the decoded bytes, at most ``limit`` of them, and whether they are partial: cut at
    the limit, damaged, ended early, or in a coding this module does not know (then ``b""``).
    Never raises on hostile input; each layer holds at most ``limit + 1`` bytes.
    """
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    data, truncated = body, False
    for coding in reversed([c for c in codings if c not in ("", "identity")]):
        decoder = _DECODERS.get(coding)
        if decoder is None:
            return b"", True
        if data:  # an empty body (204, 304, HEAD) is empty in every coding
            data, cut = decoder(data, limit)
            truncated = truncated or cut
    if len(data) > limit:
        return data[:limit], True
    return data, truncated


def _media_type(content_type: str | None) -> tuple[str, str | None]:
    mime, _, params = (content_type or "").partition(";")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return mime.strip().lower(), value.strip().strip("\"'") or None
    return mime.strip().lower(), None


def _encoding(label: str | None) -> Any:
    return webencodings.lookup(label) if label else None


def _meta_encoding(tree: LexborHTMLParser) -> Any:
    for meta in tree.css("meta"):
        attrs = meta.attributes
        label = attrs.get("charset")
        if label is None and (attrs.get("http-equiv") or "").lower() == "content-type":
            label = _media_type(attrs.get("content"))[1]
        encoding = _encoding(label)
        if encoding is not None:
            # HTML: a <meta> cannot switch to UTF-16; x-user-defined means windows-1252
            if encoding.name in ("utf-16le", "utf-16be"):
                return webencodings.UTF8
            return _encoding("windows-1252") if encoding.name == "x-user-defined" else encoding
    return None


def _parse_html(data: bytes, charset: str | None) -> LexborHTMLParser:
    declared = _encoding(charset)
    tree = LexborHTMLParser(webencodings.decode(data, declared or webencodings.UTF8)[0])
    if declared is None and not data.startswith(_BOMS):
        meta = _meta_encoding(tree)  # ASCII-compatible, so readable in the first decoding
        if meta is not None and meta.name != "utf-8":
            tree = LexborHTMLParser(webencodings.decode(data, meta)[0])
    return tree


def _srcset_urls(value: str) -> Iterator[str]:
    """HTML's "parse a srcset attribute": a URL may contain commas; its descriptors end at a
    comma outside parentheses."""
    pos, end = 0, len(value)
    while True:
        while pos < end and (value[pos] in _HTML_SPACE or value[pos] == ","):
            pos += 1
        if pos >= end:
            return
        start = pos
        while pos < end and value[pos] not in _HTML_SPACE:
            pos += 1
        url = value[start:pos]
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            in_parens = False
            while pos < end and (value[pos] != "," or in_parens):
                in_parens = (in_parens or value[pos] == "(") and value[pos] != ")"
                pos += 1
        if url:
            yield url


def _css_urls(values: Iterable[Any]) -> Iterator[str]:
    """URLs in tinycss2 component values, depth first in source order (no recursion, so
    hostile nesting cannot overflow the stack)."""
    stack: list[tuple[Iterator[Any], bool]] = [(iter(values), False)]
    while stack:
        items, strings_are_urls = stack[-1]
        node = next(items, None)
        value = None
        if node is None:
            stack.pop()
        elif node.type == "url" or (node.type == "string" and strings_are_urls):
            value = str(node.value)
        elif node.type == "function" and node.lower_name in _CSS_URL_FUNCTIONS:
            value = next((str(a.value) for a in node.arguments if a.type == "string"), None)
        elif node.type == "function":
            stack.append((iter(node.arguments), node.lower_name in _IMAGE_SETS))
        elif node.type in ("() block", "[] block", "{} block"):
            stack.append((iter(node.content), False))
        # url(#id) points into the document that uses the style (CSS Values 4), not a fetch
        if value is not None and not value.lstrip(_HTML_SPACE).startswith("#"):
            yield value


def _stylesheet_urls(rules: Iterable[Any]) -> Iterator[str]:
    for rule in rules:
        if rule.type == "at-rule" and rule.lower_at_keyword == "namespace":
            continue  # a namespace URL names, it is never fetched
        if rule.type == "at-rule":
            prelude = [t for t in rule.prelude if t.type not in ("whitespace", "comment")]
            if rule.lower_at_keyword == "import" and prelude and prelude[0].type == "string":
                yield str(prelude[0].value)
            yield from _css_urls(prelude + list(rule.content or ()))
        elif rule.type == "qualified-rule":
            yield from _css_urls(rule.content)


def _element_urls(node: LexborNode, tag: str, attrs: dict[str, str | None]) -> Iterator[str]:
    names = _URL_ATTRS.get(tag, ())
    if tag == "link" and _LINK_RELS.intersection((attrs.get("rel") or "").lower().split()):
        names = ("href", "imagesrcset")
    elif tag == "input" and (attrs.get("type") or "").strip().lower() == "image":
        names = ("src",)
    for name in names:
        value = attrs.get(name)
        if value:
            yield from _srcset_urls(value) if name.endswith("srcset") else (value,)
    if tag == "style":
        yield from _stylesheet_urls(tinycss2.parse_stylesheet(node.text(deep=True)))
    if attrs.get("style"):
        yield from _css_urls(tinycss2.parse_component_value_list(attrs["style"]))


def _resolve(base_url: str, url: str) -> str | None:
    """``url`` made absolute without its fragment if it is http(s), else None."""
    # the URL Standard drops ASCII tab and newline anywhere, spaces at either end
    url = url.strip(_HTML_SPACE).replace("\t", "").replace("\n", "").replace("\r", "")
    try:
        absolute = urljoin(base_url, url).partition("#")[0]
        parts = urlsplit(absolute)
        fetchable = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. a bad IPv6 literal
        return None
    return absolute if fetchable else None


def _absolute(raw: Iterable[str], base_url: str) -> tuple[str, ...]:
    found = dict.fromkeys(_resolve(base_url, url) for url in raw)
    return tuple(url for url in found if url is not None)


def _html_links(
    data: bytes, charset: str | None, base_url: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    tree = _parse_html(data, charset)
    base = tree.css_first("base[href]")
    if base is not None:
        base_url = _resolve(base_url, base.attributes.get("href") or "") or base_url
    requisites: list[str] = []
    links: list[str] = []
    for node in tree.root.traverse() if tree.root is not None else ():
        tag = (node.tag or "-").lower()
        if tag.startswith("-"):
            continue  # text, comment, doctype
        attrs = node.attributes
        requisites.extend(_element_urls(node, tag, attrs))
        if tag in ("a", "area") and attrs.get("href"):
            links.append(attrs["href"] or "")
    return _absolute(requisites, base_url), _absolute(links, base_url)


def extract(
    body: bytes, content_type: str | None, base_url: str, *, content_encoding: str | None = None
) -> Links:
    """Requisites and links of an HTML page or a stylesheet; empty for any other type.

    ``base_url`` is the URL the body was fetched from (after redirects). Imported
    stylesheets are listed as requisites, not followed.
    """
    mime, charset = _media_type(content_type)
    if mime not in HTML_TYPES and mime != CSS_TYPE:
        return Links()
    data, truncated = decode_body(body, content_encoding)
    if mime == CSS_TYPE:
        rules, _ = tinycss2.parse_stylesheet_bytes(data, protocol_encoding=charset)
        return Links(_absolute(_stylesheet_urls(rules), base_url), (), truncated)
    return Links(*_html_links(data, charset, base_url), truncated)
