"""The availability classification (archive.media.availability) over real recorder exchanges: the
bytes a platform sent, as the recording proxy keeps them, and yt-dlp's error text."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest
from servers import chunked, response

from archive.http import recorder
from archive.media.availability import CLASSES, REFUSALS, TAKEDOWN, chain, classify
from archive.warc.writer import Block

POST = "https://platform.example/watch/1"
NOW = datetime(2026, 12, 5, tzinfo=UTC)


def answer(url: str, raw: bytes | None, error: str | None = None) -> recorder.Exchange:
    """An exchange as the recorder leaves it: the response block with its payload marked,
    the status and headers parsed from it."""
    ex = recorder.Exchange(url, NOW, error=error)
    if raw is None:
        return ex
    head, _, _ = raw.partition(b"\r\n\r\n")
    ex.response = Block.of(raw, payload_offset=len(head) + 4)
    lines = head.split(b"\r\n")
    ex.status = int(lines[0].split(b" ")[1])
    ex.headers = [tuple(part.strip() for part in line.split(b":", 1))  # type: ignore[misc]
                  for line in lines[1:]]
    return ex


def json_answer(status: bytes, body: bytes, *extra: tuple[bytes, bytes]) -> bytes:
    return response(status, [(b"Content-Type", b"application/json"), *extra], body)


CASES = {
    "410 with the platform's payload": (
        [answer(POST, json_answer(b"410 Gone", b'{"error": "This video has been removed"}'))],
        None, None, "removed", "410 for the post"),
    "404 page, chunked": (
        [answer(POST, response(b"404 Not Found", [(b"Transfer-Encoding", b"chunked")],
                               chunked([b"<h1>Video ", b"not found</h1>"]), length=False))],
        None, None, "removed", "404 for the post"),
    "403 saying private, gzip": (
        [answer(POST, json_answer(b"403 Forbidden",
                                  gzip.compress(b'{"message": "This account is private"}'),
                                  (b"Content-Encoding", b"gzip")))],
        None, None, "private", "403, the payload says private"),
    "403 with no reason": (
        [answer(POST, response(b"403 Forbidden", [], b"<h1>Access denied</h1>"))],
        None, None, "blocked", "403 Forbidden, no reason given"),
    "redirect to a login page": (
        [answer(POST, response(b"302 Found", [(b"Location", b"/accounts/login/?next=/w/1")])),
         answer("https://platform.example/accounts/login/?next=/w/1",
                response(b"200 OK", [], b"<form>log in</form>"))],
        None, None, "login-required",
        "the post redirects to a login page (https://platform.example/accounts/login/?next=/w/1)"),
    "401": ([answer(POST, response(b"401 Unauthorized", []))], None, None, "login-required",
            "401 Unauthorized"),
    "451 naming a country": (
        [answer(POST, json_answer(b"451 Unavailable For Legal Reasons",
                                  b'{"error": "not available in your country"}'))],
        None, None, "geo-blocked", "451, the payload names a place"),
    "451 naming no place": (
        [answer(POST, json_answer(b"451 Unavailable For Legal Reasons",
                                  b'{"error": "withheld following a court order"}'))],
        None, None, "removed", "451 Unavailable For Legal Reasons"),
    "429": ([answer(POST, json_answer(b"429 Too Many Requests", b"{}",
                                      (b"Retry-After", b"60")))],
            None, None, "rate-limited", "429 Too Many Requests"),
    "503 with Retry-After": ([answer(POST, response(b"503 Service Unavailable",
                                                    [(b"Retry-After", b"5")]))],
                             None, None, "rate-limited", "503 with Retry-After"),
    "503": ([answer(POST, response(b"503 Service Unavailable", []))], None, None,
            "unreachable", "503 from the platform"),
    "connection refused": ([answer(POST, None, error="cannot connect: Connection refused")],
                           "ERROR: Unable to download webpage", None, "unreachable",
                           "no HTTP answer: cannot connect: Connection refused"),
    "nothing recorded": ([], "ERROR: name resolution failed", None, "unreachable",
                         "no HTTP answer: ERROR: name resolution failed"),
    "a page without media": ([answer(POST, response(b"200 OK", [], b"<p>hello</p>"))],
                             "ERROR: Unsupported URL: " + POST, "UnsupportedError", "no-media",
                             "the page holds no media yt-dlp can find"),
    "the API says private": ([answer(POST, response(b"200 OK", [], b"<p>app</p>"))],
                             "ERROR: [tiktok] 1: This post is private", "ExtractorError",
                             "private", "yt-dlp: private"),
    "the API says removed": ([answer(POST, response(b"200 OK", [], b"<p>app</p>"))],
                             "ERROR: [tiktok] 1: Video not available, it was deleted",
                             "ExtractorError", "removed", "yt-dlp: removed"),
    "geo restriction": ([answer(POST, response(b"200 OK", [], b"<p>app</p>"))],
                        "ERROR: The uploader has not made this video available",
                        "GeoRestrictedError", "geo-blocked", "yt-dlp: geo restricted"),
    "age gate": ([answer(POST, response(b"200 OK", [], b"<p>app</p>"))],
                 "ERROR: Sign in to confirm your age", "ExtractorError", "login-required",
                 "yt-dlp: login-required"),
    "anything else": ([answer(POST, response(b"200 OK", [], b"<p>app</p>"))],
                      "ERROR: something odd", "ExtractorError", "error", "yt-dlp gave up"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_classify(name: str) -> None:
    exchanges, error, error_class, state, reason = CASES[name]
    found = classify(POST, exchanges, captured=False, ytdlp_error=error,
                     error_class=error_class)
    assert (found.state, found.reason) == (state, reason)
    assert found.takedown is (state in TAKEDOWN)
    doc = found.as_json()
    assert doc["state"] == state and doc["hops"] == [
        {"url": e.url, "status": e.status, "error": e.error} for e in chain(POST, exchanges)]
    assert state in CLASSES


def test_payload_excerpt_is_decoded_text_and_bounded() -> None:
    body = gzip.compress(b'{"error": "This account is private"}' + b" " * 10 + b"x" * 5000)
    ex = answer(POST, json_answer(b"403 Forbidden", body, (b"Content-Encoding", b"gzip")))
    found = classify(POST, [ex], captured=False, ytdlp_error=None)
    assert found.excerpt is not None
    assert found.excerpt.startswith('{"error": "This account is private"} x')
    assert len(found.excerpt) == 2000
    brotli = answer(POST, json_answer(b"410 Gone", b"\x8b\x00", (b"Content-Encoding", b"br")))
    assert classify(POST, [brotli], captured=False, ytdlp_error=None).excerpt == (
        "(a body in br coding, not decoded)")


def test_retry_after_and_location_are_kept() -> None:
    found = classify(POST, CASES["429"][0], captured=False, ytdlp_error=None)
    assert (found.status, found.retry_after) == (429, "60")
    login = classify(POST, CASES["redirect to a login page"][0], captured=False,
                     ytdlp_error=None)
    assert (login.status, login.location) == (302, "/accounts/login/?next=/w/1")


def test_a_redirect_loop_ends() -> None:
    loop = [answer(POST, response(b"302 Found", [(b"Location", b"/watch/2")])),
            answer("https://platform.example/watch/2",
                   response(b"302 Found", [(b"Location", b"/watch/1")]))]
    assert len(chain(POST, loop)) == 2
    assert classify(POST, loop, captured=False, ytdlp_error="loop").state == "error"


def test_captured_is_available_and_refusals_are_never_takedowns() -> None:
    found = classify(POST, [answer(POST, response(b"200 OK", []))], captured=True,
                     ytdlp_error=None)
    assert (found.state, found.takedown, found.status) == ("available", False, 200)
    assert not REFUSALS & TAKEDOWN
    assert {"rate-limited", "blocked", "unreachable"} <= REFUSALS
