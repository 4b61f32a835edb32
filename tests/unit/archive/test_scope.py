"""archive.http.scope: which discovered URLs a crawl follows."""

from __future__ import annotations

import pytest

from archive.http.scope import Scope

SEED = "https://www.example.org/news/today.html"


def test_host_scope() -> None:
    scope = Scope("host", [], [])
    assert scope.allows_link("https://WWW.example.org/other", SEED)
    assert not scope.allows_link("https://example.org/", SEED)
    assert not scope.allows_link("https://cdn.example.org/", SEED)


def test_domain_scope_takes_subdomains_after_www() -> None:
    scope = Scope("domain", [], [])
    assert scope.allows_link("https://example.org/", SEED)
    assert scope.allows_link("https://cdn.example.org/a.js", SEED)
    assert not scope.allows_link("https://badexample.org/", SEED)
    assert not scope.allows_link("https://example.org.evil.net/", SEED)


def test_prefix_scope_cuts_at_the_last_slash() -> None:
    scope = Scope("prefix", [], [])
    assert scope.allows_link("https://www.example.org/news/tomorrow.html", SEED)
    assert not scope.allows_link("https://www.example.org/newsletter", SEED)
    assert scope.in_scope("https://a.org/x", "https://a.org")
    assert not scope.in_scope("https://a.org.evil/x", "https://a.org")


def test_include_and_exclude() -> None:
    scope = Scope("domain", [r"/news/"], [r"\.pdf$"])
    assert scope.allows_link("https://example.org/news/a", SEED)
    assert not scope.allows_link("https://example.org/about", SEED)  # not included
    assert not scope.allows_link("https://example.org/news/a.pdf", SEED)  # excluded
    assert scope.allows_requisite("https://elsewhere.net/style.css")  # any host
    assert not scope.allows_requisite("https://elsewhere.net/doc.pdf")


def test_bad_scope_or_pattern_is_refused() -> None:
    with pytest.raises(ValueError, match="scope must be one of host, domain, prefix"):
        Scope("site", [], [])
    with pytest.raises(ValueError, match="bad --include/--exclude pattern"):
        Scope("host", ["("], [])
