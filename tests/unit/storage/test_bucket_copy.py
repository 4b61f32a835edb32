"""provenance.storage.copy, verify, mirror, pull and push against a real S3 server: a case
copied into a bucket (kept writable, so the copy is a fork) verifies there, is mirrored back,
and a snapshot of the mirror is pushed and pulled."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from exports import Built
from s3server import S3Server, s3_server  # noqa: F401 (the session fixture)

from archive.errors import UsageError
from provenance import api
from provenance.custody.log import CustodyLog, NewEntry
from provenance.storage.copy import copy_case
from provenance.storage.mirror import open_mirror
from provenance.storage.pull import pull
from provenance.storage.push import push
from provenance.storage.verify import verify_bucket


@pytest.fixture
def bucket_url(
    built: Built,
    s3_server: S3Server,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[str]:
    for name, value in s3_server.aws_env().items():
        monkeypatch.setenv(name, value)
    source = tmp_path / "source"
    shutil.copytree(built.case, source, symlinks=True)
    url = f"s3://{s3_server.new_bucket()}/cases/one"
    done = copy_case(
        str(source), url, api.load_key("default"), datetime.now(UTC), keep_source_writable=True
    )
    assert done["mode"] == "fork" and done["files"]
    yield url


def test_the_copy_verifies_in_the_bucket(built: Built, bucket_url: str) -> None:
    report = verify_bucket(bucket_url,
                           lambda root, _: api.verify(root, [built.pub], remember=False))
    assert [f.check for f in report.findings if f.status == "fail"] == []
    with pytest.raises(UsageError, match="needs an empty prefix"):
        copy_case(str(built.case), bucket_url, api.load_key("default"), datetime.now(UTC))


def test_a_mirror_pulls_what_another_pushed(
    built: Built, bucket_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = open_mirror(bucket_url)
    with writer.lock():
        pull(writer)
        before = len(list(api.iter_log_entries(writer)))
        CustodyLog(writer).append(
            [NewEntry("note", (), {"note": "from the mirror"})],
            api.load_key("default"),
            datetime.now(UTC),
        )
        push(writer)
    other_home = tmp_path / "other-machine"
    shutil.copytree(built.root / "prov-home", other_home)  # its own mirror, the same keys
    monkeypatch.setenv("PROV_HOME", str(other_home))
    reader = open_mirror(bucket_url)
    assert reader.root != writer.root
    with reader.lock():
        pull(reader)
    entries = list(api.iter_log_entries(reader))
    assert len(entries) == before + 1
    assert entries[-1].details["note"] == "from the mirror"
