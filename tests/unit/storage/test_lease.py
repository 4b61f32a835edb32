"""provenance.storage.lease and provenance.storage.store against a real S3 server (SeaweedFS):
one holder at a time, an expired lease taken over, conditional writes refused."""

from __future__ import annotations

import time

import pytest
from s3server import S3Server, s3_server  # noqa: F401 (the session fixture)

from archive.errors import LockedError
from provenance.errors import UntrustedInputError
from provenance.storage.lease import Lease
from provenance.storage.store import Bucket, PreconditionFailed, S3Url


@pytest.fixture
def bucket(s3_server: S3Server) -> Bucket:  # noqa: F811
    url = S3Url.parse(f"s3://{s3_server.new_bucket(lock=False)}/cases/one")
    return Bucket(url, client=s3_server.client())


def test_bytes_round_trip_and_create_only_writes(bucket: Bucket) -> None:
    etag = bucket.put_bytes("state/x", b"first", if_none_match=True)
    assert bucket.get_bytes("state/x", 100) == (b"first", etag)
    with pytest.raises(PreconditionFailed):
        bucket.put_bytes("state/x", b"second", if_none_match=True)
    assert bucket.get_bytes("missing", 100) is None
    assert [key for key in bucket.iter_keys("state/")] != []


def test_a_small_object_past_its_cap_is_refused_never_cut(bucket: Bucket) -> None:
    bucket.put_bytes("state/big", b"x" * 101, if_none_match=True)
    with pytest.raises(UntrustedInputError, match=r"state/big: larger than 100 bytes"):
        bucket.get_bytes("state/big", 100)
    assert bucket.get_bytes("state/big", 101) is not None


def test_one_holder_at_a_time(bucket: Bucket) -> None:
    first, second = Lease(bucket, ttl=60), Lease(bucket, ttl=60)
    assert first.acquire(wait=0) is None
    try:
        with pytest.raises(LockedError):
            second.acquire(wait=0)
        assert first.renew()
    finally:
        first.release()
    assert second.acquire(wait=0) is None
    second.release()


def test_an_expired_lease_is_taken_over_and_its_holder_named(bucket: Bucket) -> None:
    stale = Lease(bucket, ttl=1)
    stale.acquire(wait=0)
    stale._stop.set()  # its machine stops renewing (a crash), as a dead process would
    time.sleep(1.5)
    taker = Lease(bucket, ttl=60)
    taken = taker.acquire(wait=0)
    try:
        assert taken is not None and taken["holder"] == stale.holder
        assert not stale.renew()  # the old holder notices
    finally:
        taker.release()
