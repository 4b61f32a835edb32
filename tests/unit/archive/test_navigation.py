"""archive.browser.navigation: how the chain of a page's main-frame steps is described."""

from __future__ import annotations

from typing import Any

from archive.browser.navigation import MAX_STEPS, describe, documents

STEPS = [
    {"url": "http://a.test/", "how": "requested"},
    {"url": "http://a.test/moved", "how": "redirect"},
    {"url": "http://a.test/moved#top", "how": "same-document"},
    {"url": "http://b.test/", "how": "page"},
]


def chain(steps: list[dict[str, str]], after: list[Any], more: int) -> dict[str, Any]:
    return {"steps": steps, "after": after, "more": more}


def test_documents_leave_out_same_document_steps() -> None:
    assert documents(STEPS) == ["http://a.test/", "http://a.test/moved", "http://b.test/"]


def test_describe_names_how_each_step_was_reached() -> None:
    assert describe(chain(STEPS, [], 0)) == (
        "http://a.test/ → http://a.test/moved (redirect) → http://a.test/moved#top "
        "(same-document) → http://b.test/ (page)"
    )
    assert describe(chain(STEPS[:1], [], 0)) == "http://a.test/"
    assert describe(chain([], [], 0)) == ""


def test_describe_counts_steps_past_the_limit_only_when_shown_last() -> None:
    assert describe(chain(STEPS[:2], [], 3)).endswith("(redirect) → … 3 more")
    assert "more" not in describe(chain(STEPS[:2], STEPS[2:], 3))
    assert MAX_STEPS == 100
