"""provenance.watch.changes: what differs between two snapshots of a source, and when the
difference is a takedown."""

from __future__ import annotations

from dataclasses import replace

from provenance.watch.changes import Fingerprint, compare, takedown, visible_text

BEFORE = Fingerprint(
    "c1",
    "captures/x/c1",
    "https://a.test/post",
    status=200,
    digest="sha256:aa",
    text_sha256="t1",
    text_length=5000,
    title="Post",
    requisites={"https://a.test/s.css": "sha256:11", "https://a.test/i.png": "sha256:22"},
)


def test_the_same_snapshot_has_no_changes() -> None:
    change = compare(BEFORE, replace(BEFORE, capture_id="c2"))
    assert (change.changes, change.takedown, change.resources) == ((), None, ())


def test_content_title_and_requisites() -> None:
    after = replace(
        BEFORE,
        capture_id="c2",
        digest="sha256:bb",
        text_sha256="t2",
        text_length=5100,
        title="Post (updated)",
        requisites={**BEFORE.requisites, "https://a.test/s.css": "sha256:33"},
    )
    change = compare(BEFORE, after)
    assert change.changes == (
        "content changed",
        "visible text changed (5000 -> 5100 characters)",
        "title 'Post' -> 'Post (updated)'",
        "1 requisite(s) changed, added or removed",
    )
    assert change.resources[0] == ("https://a.test/post", "sha256:aa", "sha256:bb")
    assert change.takedown is None


def test_a_requisite_not_fetched_is_not_compared() -> None:
    after = replace(BEFORE, requisites={**BEFORE.requisites, "https://a.test/i.png": "timeout"})
    change = compare(BEFORE, after)
    assert change.not_compared == ("https://a.test/i.png",)
    assert change.changes == ()


def test_takedowns() -> None:
    assert takedown(BEFORE, replace(BEFORE, status=404)) == "HTTP 404"
    login = replace(BEFORE, hops=("https://a.test/post",), final_url="https://a.test/login?next=1")
    assert takedown(BEFORE, login) == "redirected to a login page: https://a.test/login?next=1"
    home = replace(BEFORE, hops=("https://a.test/post",), final_url="https://a.test/")
    assert takedown(BEFORE, home) == "redirected to the home page: https://a.test/"
    shell = replace(BEFORE, text_length=300, shell="this post is unavailable")
    assert takedown(BEFORE, shell) == (
        "page shrank to a content-unavailable shell (5000 -> 300 characters, "
        "says 'this post is unavailable')"
    )
    assert takedown(BEFORE, replace(BEFORE, status=None, error="timeout")) is None
    assert takedown(BEFORE, replace(BEFORE, text_length=4000)) is None


def test_visible_text_of_html_and_plain_text() -> None:
    page = (
        b"<html><head><title> A  title </title><script>x()</script></head>"
        b"<body><p>Hello <b>world</b></p></body></html>"
    )
    title, text = visible_text(page, "text/html; charset=utf-8") or ("", "")
    assert title == "A title"
    assert "Hello" in text and "world" in text and "x()" not in text
    assert visible_text(b"caf\xe9", "text/plain; charset=iso-8859-1") == ("", "café")
    assert visible_text(b"\x89PNG", "image/png") is None
