"""provenance.storage.transfer against a real S3 server: uploads are create-only and a name
holding other bytes is refused; downloads take only names prov writes."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from s3server import S3Server, s3_server  # noqa: F401 (the session fixture)

from archive.errors import IntegrityError
from provenance.errors import OtherBytes
from provenance.storage.store import Bucket, S3Url
from provenance.storage.transfer import download_many, local_checksum, upload_one


@pytest.fixture
def bucket(s3_server: S3Server) -> Bucket:  # noqa: F811
    url = S3Url.parse(f"s3://{s3_server.new_bucket(lock=False)}/cases/one")
    return Bucket(url, client=s3_server.client())


def test_local_checksum_of_a_small_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"evidence")
    assert local_checksum(path) == base64.b64encode(hashlib.sha256(b"evidence").digest()).decode()


def test_upload_is_create_only(bucket: Bucket, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"first")
    rel = "captures/2026/01/02/one/data.warc.gz"
    assert upload_one(bucket, path, rel, None) == local_checksum(path)
    assert upload_one(bucket, path, rel, None) == local_checksum(path)  # same bytes: done
    path.write_bytes(b"other")
    with pytest.raises(OtherBytes, match="already holds other bytes"):
        upload_one(bucket, path, rel, None)
    download_many(bucket, tmp_path / "back", [rel])
    assert (tmp_path / "back" / rel).read_bytes() == b"first"


def test_download_refuses_a_name_prov_never_writes(bucket: Bucket, tmp_path: Path) -> None:
    with pytest.raises(IntegrityError, match="not a name prov writes"):
        download_many(bucket, tmp_path, ["captures/../../escape"])
