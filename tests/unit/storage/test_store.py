"""provenance.storage.store: s3:// URLs and S3's composite checksum."""

from __future__ import annotations

import base64
import hashlib

import pytest

from archive.errors import UsageError
from provenance.storage.store import S3Url, b64, composite_sha256


def test_a_url_and_its_keys() -> None:
    url = S3Url.parse("s3://evidence-bucket/cases/one/")
    assert (url.bucket, url.prefix, str(url)) == (
        "evidence-bucket",
        "cases/one",
        "s3://evidence-bucket/cases/one",
    )
    assert url.key("case.json") == "cases/one/case.json"
    assert url.rel(url.key("custody/log.jsonl")) == "custody/log.jsonl"
    bare = S3Url.parse("s3://bucket")
    assert (bare.key("x"), bare.rel("x"), str(bare)) == ("x", "x", "s3://bucket")


@pytest.mark.parametrize(
    "url", ["https://bucket/x", "s3://", "s3://UPPER/x", "s3://b/../up", "s3://bucket/a b"]
)
def test_bad_urls_are_usage_errors(url: str) -> None:
    with pytest.raises(UsageError):
        S3Url.parse(url)


def test_composite_checksum_of_parts() -> None:
    parts = [hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()]
    expected = base64.b64encode(hashlib.sha256(parts[0] + parts[1]).digest()).decode()
    assert composite_sha256(parts) == f"{expected}-2"
    assert b64(b"\xff") == "/w=="
