"""A case in an S3 bucket with Object Lock, against a real S3 server (SeaweedFS `weed mini`).

What S3 itself guarantees (COMPLIANCE, GOVERNANCE and its bypass permission, expiry), then
prov on a bucket: init, snapshot, verify, a replaced object and a delete marker caught, two
writers at once, a lost race re-signed, the lease, legal holds, and `prov copy` both ways.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from helpers import PROV_MAIN, make_case, run_prov, verify_report
from s3server import S3Server, s3_server  # noqa: F401 (the session fixture)
from servers import LocalServer

pytestmark = pytest.mark.timeout(600)


def _until(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def _denied(call: Any, **kwargs: Any) -> None:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    assert caught.value.response["Error"]["Code"] == "AccessDenied"


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _verify(target: str, env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    return verify_report(run_prov("verify", target, "--json", *args, env=env, timeout=180))


def _findings(report: dict[str, Any], check: str, status: str | None = None) -> list[Any]:
    return [f for f in report["findings"]
            if f["check"] == check and (status is None or f["status"] == status)]


@pytest.fixture
def bucket_case(s3_server: S3Server, tmp_path: Path) -> tuple[str, dict[str, str]]:  # noqa: F811
    """A fresh bucket and a case in it (retention: COMPLIANCE, 1 day), key "default"."""
    url = f"s3://{s3_server.new_bucket()}/cases/one"
    env = s3_server.env(tmp_path)
    Path(env["PROV_HOME"]).mkdir()
    _ok(run_prov("keys", "generate", env=env))
    _ok(run_prov("init", url, "--title", "bucket case", "--retain-days", "1", env=env))
    return url, env


# -- what the server guarantees ---------------------------------------------------------------


def test_compliance_objects_cannot_be_deleted_or_shortened(s3_server: S3Server) -> None:  # noqa: F811
    bucket, admin, intruder = s3_server.new_bucket(), s3_server.client(), s3_server.client(
        "intruder")
    until = _until(86400)
    version = admin.put_object(Bucket=bucket, Key="e", Body=b"evidence",
                               ObjectLockMode="COMPLIANCE",
                               ObjectLockRetainUntilDate=until)["VersionId"]
    for client in (admin, intruder):
        _denied(client.delete_object, Bucket=bucket, Key="e", VersionId=version)
        _denied(client.delete_object, Bucket=bucket, Key="e", VersionId=version,
                BypassGovernanceRetention=True)
    for mode, date in (("COMPLIANCE", until - timedelta(hours=1)), ("GOVERNANCE", until)):
        _denied(admin.put_object_retention, Bucket=bucket, Key="e", VersionId=version,
                Retention={"Mode": mode, "RetainUntilDate": date},
                BypassGovernanceRetention=True)
    admin.put_object_retention(Bucket=bucket, Key="e", VersionId=version, Retention={
        "Mode": "COMPLIANCE", "RetainUntilDate": until + timedelta(days=1)})  # longer: allowed
    got = admin.get_object(Bucket=bucket, Key="e", VersionId=version)
    assert got["Body"].read() == b"evidence" and got["ObjectLockMode"] == "COMPLIANCE"


def test_governance_needs_the_bypass_permission(s3_server: S3Server) -> None:  # noqa: F811
    bucket, admin = s3_server.new_bucket(), s3_server.client()
    version = admin.put_object(Bucket=bucket, Key="g", Body=b"x", ObjectLockMode="GOVERNANCE",
                               ObjectLockRetainUntilDate=_until(86400))["VersionId"]
    _denied(s3_server.client("intruder").delete_object, Bucket=bucket, Key="g",
            VersionId=version, BypassGovernanceRetention=True)
    bypasser = s3_server.client("bypasser")
    _denied(bypasser.delete_object, Bucket=bucket, Key="g", VersionId=version)
    bypasser.delete_object(Bucket=bucket, Key="g", VersionId=version,
                           BypassGovernanceRetention=True)
    assert "Versions" not in admin.list_object_versions(Bucket=bucket, Prefix="g")


@pytest.mark.xfail(strict=True, reason="SeaweedFS 4.48 lets only Admin identities call "
                   "PutObjectRetention: a principal with Write and BypassGovernanceRetention "
                   "gets AccessDenied when it shortens GOVERNANCE retention with "
                   "x-amz-bypass-governance-retention, which AWS S3 allows")
def test_governance_retention_shortened_with_bypass(s3_server: S3Server) -> None:  # noqa: F811
    bucket, admin = s3_server.new_bucket(), s3_server.client()
    until = _until(86400)
    version = admin.put_object(Bucket=bucket, Key="g", Body=b"x", ObjectLockMode="GOVERNANCE",
                               ObjectLockRetainUntilDate=until)["VersionId"]
    s3_server.client("bypasser").put_object_retention(
        Bucket=bucket, Key="g", VersionId=version, BypassGovernanceRetention=True,
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until - timedelta(hours=1)})


def test_after_retain_until_an_object_can_be_deleted(s3_server: S3Server) -> None:  # noqa: F811
    bucket, admin = s3_server.new_bucket(), s3_server.client()
    version = admin.put_object(Bucket=bucket, Key="e", Body=b"x", ObjectLockMode="COMPLIANCE",
                               ObjectLockRetainUntilDate=_until(2))["VersionId"]
    _denied(admin.delete_object, Bucket=bucket, Key="e", VersionId=version)
    time.sleep(3)
    admin.delete_object(Bucket=bucket, Key="e", VersionId=version)


def test_uploads_carry_checksums_the_server_verifies(
        s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    from archive.errors import IntegrityError
    from provenance.storage import store as s3store
    from provenance.storage.transfer import local_checksum

    monkeypatch.setattr(s3store, "MULTIPART_THRESHOLD", 6 << 20)
    monkeypatch.setattr(s3store, "PART_SIZE", 5 << 20)
    client = s3_server.client()
    bucket = s3store.Bucket(s3store.S3Url(s3_server.new_bucket(), "p"), client=client)
    big = tmp_path / "big.warc.gz"
    big.write_bytes(bytes(range(256)) * (48 << 10))  # 12 MiB: three parts
    stored = bucket.put_file("big.warc.gz", big)
    assert stored.endswith("-3") and stored == local_checksum(big)
    assert bucket.stored_checksum("big.warc.gz") == stored
    with pytest.raises(IntegrityError, match="other bytes than were sent"):
        bucket._call("bad", "put_object", Key="p/bad", Body=b"abc",
                     ChecksumSHA256=s3store.b64(hashlib.sha256(b"xyz").digest()))
    with pytest.raises(s3store.PreconditionFailed):
        bucket.put_file("big.warc.gz", big)  # evidence is written once


# -- prov on a bucket -------------------------------------------------------------------------


def test_pipeline_on_a_bucket(bucket_case: tuple[str, dict[str, str]], tmp_path: Path,
                              http_server: LocalServer, s3_server: S3Server) -> None:  # noqa: F811
    url, env = bucket_case
    _ok(run_prov("snapshot", http_server.url("/"), http_server.url("/chunked"), "--case", url,
                 "-q", env=env, timeout=180))
    shown = _ok(run_prov("log", "show", "--case", url, env=env))
    assert "init" in shown and "capture" in shown
    code, report = _verify(url, env)
    assert code == 0, report
    locks = _findings(report, "s3.lock")
    assert locks and all(f["status"] == "pass" and "COMPLIANCE until" in f["message"]
                         for f in locks)
    assert any(f["subject"].endswith(".warc.gz") for f in locks)
    assert not _findings(report, "s3.versions")
    listed = s3_server.client().list_objects_v2(Bucket=url[5:].split("/")[0],
                                                Prefix="cases/one/custody/entries/")
    assert [o["Key"].rsplit("/", 1)[1] for o in listed["Contents"]] == [
        f"{n:020d}.json" for n in range(2)]  # init, capture (no TSA configured)
    shutil.rmtree(Path(env["PROV_HOME"]) / "cache")  # the mirror is derived: WARCs come back
    _ok(run_prov("export", "bag", "--case", url, "-o", str(tmp_path / "bag"), env=env,
                 timeout=180))
    assert _verify(str(tmp_path / "bag"), env)[0] == 0
    log = json.loads(_ok(run_prov("log", "show", "--case", url, "--json", env=env)))
    assert log[-1]["action"] == "export"
    _ok(run_prov("verify", url, "--record", env=env, timeout=180))
    code, report = _verify(url, env)
    assert code == 0 and _findings(report, "cosignature", "pass")
    [cosigned] = [f for f in _findings(report, "s3.lock") if f["subject"].endswith(
        ".cosignature")]
    assert "COMPLIANCE until" in cosigned["message"]


def _warc_key(client: Any, bucket: str) -> str:
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    return next(k for k in keys if k.endswith("data-00000.warc.gz"))


@pytest.mark.parametrize("attack", ["new-version", "delete-marker"])
def test_verify_catches_tampering_by_someone_with_write_access(
        attack: str, bucket_case: tuple[str, dict[str, str]], http_server: LocalServer,
        s3_server: S3Server) -> None:  # noqa: F811
    url, env = bucket_case
    bucket = url[5:].split("/")[0]
    _ok(run_prov("snapshot", http_server.url("/"), "--case", url, "-q", env=env, timeout=180))
    intruder = s3_server.client("intruder")
    key = _warc_key(s3_server.client(), bucket)
    if attack == "new-version":
        intruder.put_object(Bucket=bucket, Key=key, Body=b"forged WARC")
    else:
        intruder.delete_object(Bucket=bucket, Key=key)
    code, report = _verify(url, env)
    assert code == 3
    [versions] = _findings(report, "s3.versions", "fail")
    assert versions["subject"] == key.removeprefix("cases/one/")
    ids = [v["VersionId"] for v in s3_server.client().list_object_versions(
        Bucket=bucket, Prefix=key).get("Versions", [])]
    assert all(i in versions["message"] for i in ids) and len(ids) == (
        2 if attack == "new-version" else 1)
    if attack == "delete-marker":
        assert "delete marker" in versions["message"]
        assert _findings(report, "file.missing", "fail")
    else:
        assert _findings(report, "file.digest", "fail") or _findings(report, "warc.format",
                                                                      "fail")


# `prov` with an audit hook (PEP 578) that lists every file opened for writing whose name is a
# WARC's: a fixity check of a bucket must stream the WARC objects, never copy them to disk.
AUDITED = """
import os, sys
written = []
def hook(event, args):
    if event != "open" or isinstance(args[0], int) or not isinstance(args[1], str):
        return  # a descriptor, or os.open (no mode): nothing named is written through it
    if set(args[1]) & set("wax+") and ".warc" in os.fsdecode(args[0]):
        written.append(os.fsdecode(args[0]))
sys.addaudithook(hook)
try:
    from provenance.cli import main
    main()
finally:
    with open(os.environ["WARC_WRITES"], "w") as out:
        out.write("\\n".join(written))
"""


def _audited_verify(target: str, env: dict[str, str], tmp_path: Path, *args: str
                    ) -> tuple[int, dict[str, Any], list[str]]:
    """`prov verify TARGET --json ARGS`, and the WARC files it wrote."""
    writes = tmp_path / "warc-writes.txt"
    proc = run_prov("verify", target, "--json", *args, env=dict(env, WARC_WRITES=str(writes)),
                    timeout=180, command=[sys.executable, "-c", AUDITED])
    code, report = verify_report(proc)
    return code, report, [line for line in writes.read_text().split("\n") if line]


def test_fixity_streams_a_bucket_case_without_writing_it(
        bucket_case: tuple[str, dict[str, str]], http_server: LocalServer, tmp_path: Path,
        s3_server: S3Server) -> None:  # noqa: F811
    url, env = bucket_case
    _ok(run_prov("snapshot", http_server.url("/"), http_server.url("/chunked"), "--case", url,
                 "-q", env=env, timeout=180))
    code, full, written = _audited_verify(url, env, tmp_path)
    assert (code, full["mode"]) == (0, "full")
    assert any(w.endswith(".warc.gz") for w in written)  # a full verify copies: the hook sees it
    code, report, written = _audited_verify(url, env, tmp_path, "--fixity")
    assert (code, report["mode"], written) == (0, "fixity", [])
    assert _findings(report, "capture", "pass") and _findings(report, "s3.bucket")
    assert report["lastFullVerify"]["logSize"] > 0  # the full verify above, by this verifier
    bucket = url[5:].split("/")[0]
    key = _warc_key(s3_server.client(), bucket)
    s3_server.client("intruder").put_object(Bucket=bucket, Key=key, Body=b"forged WARC")
    code, report, written = _audited_verify(url, env, tmp_path, "--fixity")
    assert (code, written) == (3, [])
    rel = key.removeprefix("cases/one/")
    assert [f["subject"] for f in _findings(report, "file.digest", "fail")] == [rel]
    assert [f["subject"] for f in _findings(report, "s3.versions", "fail")] == [rel]


def _second_home(env: dict[str, str], tmp_path: Path, name: str) -> dict[str, str]:
    """Another machine: its own PROV_HOME (own mirror), the same signing key."""
    other = dict(env, PROV_HOME=str(tmp_path / name))
    shutil.copytree(env["PROV_HOME"] + "/keys", other["PROV_HOME"] + "/keys")
    shutil.copytree(env["PROV_HOME"] + "/trusted", other["PROV_HOME"] + "/trusted")
    return other


def test_two_machines_snapshot_at_once(bucket_case: tuple[str, dict[str, str]],
                                       http_server: LocalServer, tmp_path: Path) -> None:
    url, env = bucket_case
    envs = [env, _second_home(env, tmp_path, "machine-b")]
    procs = [subprocess.Popen([sys.executable, "-c", PROV_MAIN, "snapshot",
                               http_server.url(f"/page.html?m={n}"), "--case", url, "-q"],
                              env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n, e in enumerate(envs)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    code, report = _verify(url, env)
    assert code == 0, report
    for e in envs:
        actions = [row.split()[2] for row in _ok(run_prov("log", "show", "--case", url,
                                                          env=e)).splitlines()]
        assert actions.count("capture") == 2


def test_a_writer_that_loses_the_race_signs_again(
        bucket_case: tuple[str, dict[str, str]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from provenance import api
    from provenance.base import timefmt
    from provenance.custody.log import CustodyLog, NewEntry
    from provenance.storage.push import push

    url, env = bucket_case
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    key = api.load_key("default")
    first = api.open_case(url)
    monkeypatch.setenv("PROV_HOME", str(tmp_path / "stale-machine"))
    stale = api.open_case(url)
    with first.lock():
        CustodyLog(first).append([NewEntry("note", (), {"by": "first"})], key, timefmt.utc_now())
    with stale.local_lock():  # no lease and no pull: as if its lease had lapsed
        CustodyLog(stale).append([NewEntry("note", (), {"by": "stale"})], key,
                                 timefmt.utc_now())
    push(stale)
    entries = list(api.iter_log_entries(stale))
    assert [(e.seq, e.details.get("by")) for e in entries[1:]] == [(1, "first"), (2, "stale")]
    code, report = _verify(url, env)
    assert code == 0, report


def test_checkpoints_in_two_shards_push_pull_and_verify(
        bucket_case: tuple[str, dict[str, str]], tmp_path: Path, s3_server: S3Server,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries 1..1000 in one append put checkpoint 1001 in the second shard folder; a stale
    writer's checkpoint 2 (first shard) is dropped and its entry signed again as 1001."""
    from provenance import api
    from provenance.base import timefmt
    from provenance.custody.log import CustodyLog, NewEntry, checkpoint_rel
    from provenance.storage.push import push

    url, env = bucket_case
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    key = api.load_key("default")
    first = api.open_case(url)
    monkeypatch.setenv("PROV_HOME", str(tmp_path / "stale-machine"))
    stale = api.open_case(url)
    with first.lock():
        CustodyLog(first).append([NewEntry("note", (), {"n": n}) for n in range(1000)], key,
                                 timefmt.utc_now())
    with stale.local_lock():
        CustodyLog(stale).append([NewEntry("note", (), {"by": "stale"})], key,
                                 timefmt.utc_now())
    assert (stale.root / checkpoint_rel(2)).is_file()
    push(stale)
    assert not (stale.root / checkpoint_rel(2)).exists()
    assert (stale.root / checkpoint_rel(1001)).is_file()  # pulled into the second shard
    bucket, prefix = url[5:].split("/", 1)
    listed = s3_server.client().list_objects_v2(Bucket=bucket,
                                                Prefix=f"{prefix}/custody/checkpoints/")
    assert [o["Key"][len(prefix) + 1:] for o in listed["Contents"]] == [
        checkpoint_rel(n) for n in (1, 1001, 1002)]
    code, report = _verify(url, env)
    assert code == 0, report
    assert {f["subject"] for f in _findings(report, "checkpoint", "pass")} == {
        checkpoint_rel(n) for n in (1, 1001, 1002)}


def test_lease(bucket_case: tuple[str, dict[str, str]], http_server: LocalServer,
               s3_server: S3Server) -> None:  # noqa: F811
    url, env = bucket_case
    bucket, lease = url[5:].split("/")[0], "cases/one/state/lease"
    client = s3_server.client()
    held = {"holder": "other-machine/1/x", "acquired": "2026-01-01T00:00:00.000000Z",
            "expires": "2999-01-01T00:00:00.000000Z"}
    client.put_object(Bucket=bucket, Key=lease, Body=json.dumps(held).encode())
    proc = run_prov("snapshot", http_server.url("/"), "--case", url, "-q",
                    env=dict(env, PROV_S3_LEASE_WAIT="1"), timeout=180)
    assert proc.returncode == 7 and "other-machine/1/x" in proc.stderr
    held["expires"] = "2020-01-01T00:00:00.000000Z"  # the holder died; its lease ran out
    client.put_object(Bucket=bucket, Key=lease, Body=json.dumps(held).encode())
    done = _ok(run_prov("log", "repair", "--case", url, env=env, timeout=180))
    assert "logged sealed capture" in done
    log = json.loads(_ok(run_prov("log", "show", "--case", url, "--json", env=env)))
    [takeover] = [e for e in log if e["action"] == "lease-takeover"]
    assert takeover["details"]["previousHolder"] == "other-machine/1/x"
    assert _verify(url, env)[0] == 0


def test_legal_hold(bucket_case: tuple[str, dict[str, str]], s3_server: S3Server) -> None:  # noqa: F811
    url, env = bucket_case
    bucket, client = url[5:].split("/")[0], s3_server.client()
    _ok(run_prov("hold", "--on", "--case", url, env=env))
    head = client.head_object(Bucket=bucket, Key="cases/one/case.json")
    assert head["ObjectLockLegalHoldStatus"] == "ON"
    entries = client.list_objects_v2(Bucket=bucket, Prefix="cases/one/custody/entries/")
    assert all(client.head_object(Bucket=bucket, Key=o["Key"])["ObjectLockLegalHoldStatus"]
               == "ON" for o in entries["Contents"])
    _ok(run_prov("hold", "--off", "--case", url, env=env))
    head = client.head_object(Bucket=bucket, Key="cases/one/case.json")
    assert head["ObjectLockLegalHoldStatus"] == "OFF"


# -- prov copy ----------------------------------------------------------------------------------


def test_copy_disk_to_bucket_and_back(s3_server: S3Server, tmp_path: Path,  # noqa: F811
                                      http_server: LocalServer) -> None:
    case, _ = make_case(tmp_path)
    env = s3_server.env(tmp_path)
    _ok(run_prov("snapshot", http_server.url("/"), "--case", str(case), "-q", env=env))
    url = f"s3://{s3_server.new_bucket()}/moved"
    _ok(run_prov("copy", str(case), url, "--retain-days", "1", env=env, timeout=180))
    refused = run_prov("snapshot", http_server.url("/"), "--case", str(case), "-q", env=env)
    assert refused.returncode == 2 and "read-only" in refused.stderr
    code, report = _verify(url, env)
    assert code == 0, report
    assert all(f["status"] == "pass" for f in _findings(report, "s3.lock"))
    source_log = _ok(run_prov("log", "show", "--case", str(case), "--json", env=env))
    assert source_log == _ok(run_prov("log", "show", "--case", url, "--json", env=env))
    assert json.loads(source_log)[-1]["action"] == "transfer-started"
    back = tmp_path / "back"
    _ok(run_prov("copy", url, str(back), env=env, timeout=180))
    assert _verify(str(back), env)[0] == 0
    assert (back / "custody" / "log.jsonl").read_bytes().startswith(
        (case / "custody" / "log.jsonl").read_bytes())
    refused = run_prov("snapshot", http_server.url("/"), "--case", url, "-q", env=env)
    assert refused.returncode == 2 and "read-only" in refused.stderr


def test_copy_keeping_the_source_writable_starts_a_new_origin(
        s3_server: S3Server, tmp_path: Path, http_server: LocalServer) -> None:  # noqa: F811
    case, _ = make_case(tmp_path)
    env = s3_server.env(tmp_path)
    _ok(run_prov("snapshot", http_server.url("/"), "--case", str(case), "-q", env=env))
    url = f"s3://{s3_server.new_bucket()}/fork"
    _ok(run_prov("copy", str(case), url, "--keep-source-writable", env=env, timeout=180))
    code, report = _verify(url, env)
    assert code == 0, report
    source = json.loads((case / "case.json").read_text())
    log = json.loads(_ok(run_prov("log", "show", "--case", url, "--json", env=env)))
    assert log[0]["details"]["continues"]["origin"] == source["origin"]
    assert log[0]["details"]["origin"] != source["origin"]
    assert [e["action"] for e in log].count("capture") == 1
    _ok(run_prov("snapshot", http_server.url("/"), "--case", str(case), "-q", env=env))


def test_schedule_run_on_a_bucket_holds_a_run_lease(
        bucket_case: tuple[str, dict[str, str]], http_server: LocalServer, s3_server: S3Server,  # noqa: F811
        tmp_path: Path) -> None:
    url, env = bucket_case
    bucket, lease = url[5:].split("/")[0], "cases/one/state/schedule.lease"
    sources = tmp_path / "sources.toml"
    sources.write_text(f'[[source]]\nurl = "{http_server.url("/")}"\ninterval = "1h"\n')
    held = {"holder": "cron-on-b/7/y", "acquired": "2026-01-01T00:00:00.000000Z",
            "expires": "2999-01-01T00:00:00.000000Z"}
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key=lease, Body=json.dumps(held).encode())
    busy = run_prov("schedule", "run", str(sources), "--case", url, env=env, timeout=180)
    assert busy.returncode == 7 and "cron-on-b/7/y" in busy.stderr
    held["expires"] = "2020-01-01T00:00:00.000000Z"
    client.put_object(Bucket=bucket, Key=lease, Body=json.dumps(held).encode())
    _ok(run_prov("schedule", "run", str(sources), "--case", url, env=env, timeout=180))
    log = json.loads(_ok(run_prov("log", "show", "--case", url, "--json", env=env)))
    [takeover] = [e for e in log if e["action"] == "lease-takeover"]
    assert takeover["details"]["lease"] == "state/schedule.lease"
    assert [e["action"] for e in log].count("capture") == 1
    assert _verify(url, env)[0] == 0


def test_object_names_that_climb_out_are_refused() -> None:
    from provenance.base.untrusted import is_safe_name

    assert is_safe_name("captures/2026/01/02/x/data-00000.warc.gz")
    for bad in ("captures/../../etc/passwd", "./case.json", "a//b", "/abs", "a/b/", "sp ace"):
        assert not is_safe_name(bad)


def test_verify_reports_a_gap_in_the_entry_objects(
        bucket_case: tuple[str, dict[str, str]], s3_server: S3Server) -> None:  # noqa: F811
    url, env = bucket_case
    bucket, client = url[5:].split("/")[0], s3_server.client("intruder")
    first = client.get_object(Bucket=bucket, Key="cases/one/custody/entries/"
                              f"{0:020d}.json")["Body"].read()
    client.put_object(Bucket=bucket, Key=f"cases/one/custody/entries/{5:020d}.json",
                      Body=first + first)
    code, report = _verify(url, env)
    assert code == 3
    subjects = {f["subject"] for f in _findings(report, "s3.entries", "fail")}
    assert subjects == {f"custody/entries/{1:020d}.json", f"custody/entries/{5:020d}.json"}


# -- a bucket is hostile input: nothing unsigned steers what the operator signs -----------------


def _objects(client: Any, bucket: str, prefix: str) -> list[str]:
    listed = client.list_object_versions(Bucket=bucket, Prefix=prefix)
    return [v["Key"] for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])]


def _entry_keys(client: Any, bucket: str) -> list[str]:
    return sorted(_objects(client, bucket, "cases/one/custody/entries/"))


def _checkpoint_keys(client: Any, bucket: str) -> list[str]:
    return sorted(k for k in _objects(client, bucket, "cases/one/custody/checkpoints/")
                  if k.endswith(".checkpoint"))


def _mirror(env: dict[str, str], url: str) -> Path:
    return Path(env["PROV_HOME"], "cache", "s3", *url[5:].split("/"))


def test_an_unsigned_entry_planted_in_the_bucket_stops_the_next_command(
        bucket_case: tuple[str, dict[str, str]], http_server: LocalServer,
        s3_server: S3Server) -> None:  # noqa: F811
    import base64

    url, env = bucket_case
    bucket, client = url[5:].split("/")[0], s3_server.client()
    first = client.get_object(Bucket=bucket, Key=f"cases/one/custody/entries/{0:020d}.json")[
        "Body"].read()
    envelope = json.loads(first)
    payload = json.loads(base64.b64decode(envelope["payload"]))
    payload.update(seq=1, action="note", subjects=[], details={"planted": True})
    envelope["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    s3_server.client("intruder").put_object(
        Bucket=bucket, Key=f"cases/one/custody/entries/{1:020d}.json",
        Body=json.dumps(envelope).encode() + b"\n")  # the init's signature, another payload
    before = (_entry_keys(client, bucket), _checkpoint_keys(client, bucket))
    proc = run_prov("snapshot", http_server.url("/"), "--case", url, "-q", env=env,
                    timeout=180)
    assert proc.returncode == 3, proc.stderr
    assert "log.entry" in proc.stderr and "entry 1" in proc.stderr
    assert (_entry_keys(client, bucket), _checkpoint_keys(client, bucket)) == before
    assert len((_mirror(env, url) / "custody" / "log.jsonl").read_bytes().splitlines()) == 1
    code, report = _verify(url, env)
    assert code == 3 and _findings(report, "log.entry", "fail")


def test_a_token_from_an_intruders_tsa_is_never_bound(
        bucket_case: tuple[str, dict[str, str]], http_server: LocalServer,
        s3_server: S3Server) -> None:  # noqa: F811
    from tsa import LocalTSA

    from provenance.custody.log import checkpoint_rel
    from provenance.timestamps.rfc3161 import request_stamp, tsa_id

    url, env = bucket_case
    bucket, client = url[5:].split("/")[0], s3_server.client()
    _ok(run_prov("snapshot", http_server.url("/"), "--case", url, "-q", env=env, timeout=180))
    note = client.get_object(Bucket=bucket, Key=f"cases/one/{checkpoint_rel(2)}")["Body"].read()
    with LocalTSA(gen_time=datetime.now(UTC) - timedelta(hours=1)) as liar:
        stamp = request_stamp(note, liar.url)
        token = checkpoint_rel(2, f"{tsa_id(liar.url)}.tsr")
        s3_server.client("intruder").put_object(Bucket=bucket, Key=f"cases/one/{token}",
                                                Body=stamp.response_der)
        _ok(run_prov("snapshot", http_server.url("/?again"), "--case", url, "-q", env=env,
                     timeout=180))
        log = json.loads(_ok(run_prov("log", "show", "--case", url, "--json", env=env)))
        assert [e["prev"]["size"] for e in log[2:]] == [2]
        assert "tokens" not in log[2]["prev"]  # the intruder's token is not bound
        assert not (_mirror(env, url) / token).exists()
        _, report = _verify(url, env)
    assert not _findings(report, "timestamp.backdated")
    assert not any(f["subject"] == token and f["status"] == "pass"
                   for f in report["findings"])


def test_a_token_another_machine_got_from_a_trusted_tsa_is_bound(
        bucket_case: tuple[str, dict[str, str]], http_server: LocalServer, tmp_path: Path) -> None:
    from tsa import LocalTSA

    from provenance.custody.log import checkpoint_rel
    from provenance.timestamps.rfc3161 import tsa_id

    url, env = bucket_case
    other = _second_home(env, tmp_path, "machine-b")
    with LocalTSA() as honest:
        root = tmp_path / "root.pem"
        root.write_bytes(honest.root_pem)
        for e in (env, other):
            _ok(run_prov("tsa", "trust", str(root), env=e))
        _ok(run_prov("snapshot", http_server.url("/"), "--case", url, "-q", "--tsa",
                     honest.url, env=other, timeout=180))
        _ok(run_prov("snapshot", http_server.url("/?a"), "--case", url, "-q", env=env,
                     timeout=180))
        log = json.loads(_ok(run_prov("log", "show", "--case", url, "--json", env=env)))
        token = checkpoint_rel(log[-1]["prev"]["size"], f"{tsa_id(honest.url)}.tsr")
        assert [t["path"] for t in log[-1]["prev"].get("tokens", [])] == [token]
        code, report = _verify(url, env)
    assert code == 0, report


def test_a_lost_or_edited_mirror_never_makes_the_operator_sign_again(
        bucket_case: tuple[str, dict[str, str]], http_server: LocalServer,
        s3_server: S3Server) -> None:  # noqa: F811
    url, env = bucket_case
    bucket, client = url[5:].split("/")[0], s3_server.client()
    _ok(run_prov("snapshot", http_server.url("/"), "--case", url, "-q", env=env, timeout=180))
    mirror = _mirror(env, url)
    (mirror / "state" / "s3-sync.json").unlink()
    _ok(run_prov("snapshot", http_server.url("/?2"), "--case", url, "-q", env=env, timeout=180))
    log = json.loads(_ok(run_prov("log", "show", "--case", url, "--json", env=env)))
    assert [e["action"] for e in log] == ["init", "capture", "capture"]  # nothing signed again
    with open(mirror / "custody" / "log.jsonl", "ab") as fh:  # an unsigned line in the mirror
        fh.write(b'{"payload":"e30=","payloadType":"x","signatures":[]}\n')
    (mirror / "state" / "s3-sync.json").write_text('{"pushed": 99, "floor": 0, "known": []}')
    _ok(run_prov("snapshot", http_server.url("/?3"), "--case", url, "-q", env=env, timeout=180))
    log = json.loads(_ok(run_prov("log", "show", "--case", url, "--json", env=env)))
    assert [e["action"] for e in log] == ["init", "capture", "capture", "capture"]
    assert _entry_keys(client, bucket) == [
        f"cases/one/custody/entries/{n:020d}.json" for n in range(4)]  # one version each
    code, report = _verify(url, env)
    assert code == 0, report
    assert not _findings(report, "s3.versions")


def test_a_hidden_entry_is_never_written_over_nor_copied_away(
        bucket_case: tuple[str, dict[str, str]], http_server: LocalServer, tmp_path: Path,
        s3_server: S3Server) -> None:  # noqa: F811
    url, env = bucket_case
    bucket, client = url[5:].split("/")[0], s3_server.client()
    _ok(run_prov("snapshot", http_server.url("/"), "--case", url, "-q", env=env, timeout=180))
    intruder = s3_server.client("intruder")
    hidden = [k for k in _objects(client, bucket, "cases/one/captures/")]
    for key in [f"cases/one/custody/entries/{1:020d}.json", *hidden]:
        intruder.delete_object(Bucket=bucket, Key=key)
    before = _objects(client, bucket, "cases/one/")
    other = _second_home(env, tmp_path, "machine-b")
    for e in (other, env):  # a fresh mirror, and the mirror that holds the hidden entry
        proc = run_prov("snapshot", http_server.url("/?b"), "--case", url, "-q", env=e,
                        timeout=180)
        assert proc.returncode == 3, proc.stderr
        assert "s3.versions" in proc.stderr and f"{1:020d}.json" in proc.stderr
    assert sorted(_objects(client, bucket, "cases/one/")) == sorted(before)  # nothing signed
    copied = tmp_path / "copied"
    proc = run_prov("copy", url, str(copied), env=other, timeout=180)
    assert proc.returncode == 3 and "s3.versions" in proc.stderr
    assert not copied.exists() or not any(copied.iterdir())
    proc = run_prov("export", "bag", "--case", url, "-o", str(tmp_path / "bag"), env=other,
                    timeout=180)
    assert proc.returncode == 3 and "s3.versions" in proc.stderr
    proc = run_prov("custody", "report", "--case", url, env=other, timeout=180)
    assert proc.returncode == 3 and "s3.versions" in proc.stderr
    code, report = _verify(url, env)
    assert code == 3
    assert f"custody/entries/{1:020d}.json" in {
        f["subject"] for f in _findings(report, "s3.versions", "fail")}


def test_a_hidden_case_json_is_an_integrity_failure(
        bucket_case: tuple[str, dict[str, str]], http_server: LocalServer,
        s3_server: S3Server) -> None:  # noqa: F811
    url, env = bucket_case
    bucket = url[5:].split("/")[0]
    s3_server.client("intruder").delete_object(Bucket=bucket, Key="cases/one/case.json")
    code, report = _verify(url, env)
    assert code == 3
    assert [f["subject"] for f in _findings(report, "case.file", "fail")] == ["case.json"]
    assert [f["subject"] for f in _findings(report, "s3.versions", "fail")] == ["case.json"]
    proc = run_prov("snapshot", http_server.url("/"), "--case", url, "-q", env=env,
                    timeout=180)
    assert proc.returncode == 3 and "s3.versions" in proc.stderr


def test_a_case_json_that_is_also_a_folder_is_a_finding(
        bucket_case: tuple[str, dict[str, str]], s3_server: S3Server) -> None:  # noqa: F811
    url, env = bucket_case
    s3_server.client("intruder").put_object(Bucket=url[5:].split("/")[0],
                                            Key="cases/one/case.json/x", Body=b"x")
    code, report = _verify(url, env)
    assert code == 3
    assert {f["subject"] for f in _findings(report, "s3.key", "fail")} == {
        "case.json", "case.json/x"}
    assert _findings(report, "log.signatures", "pass")  # case.json itself was read


def test_keys_the_layout_does_not_know_are_findings(
        bucket_case: tuple[str, dict[str, str]], http_server: LocalServer, tmp_path: Path,
        s3_server: S3Server) -> None:  # noqa: F811
    url, env = bucket_case
    bucket, intruder = url[5:].split("/")[0], s3_server.client("intruder")
    planted = ["keys", "notes.txt", "custody/log.jsonl", f"custody/entries/{0:020d}.json/x",
               "custody/entries/readme", "certs/" + "0" * 64 + ".pem", "keys/x" * 60]
    for rel in planted:
        intruder.put_object(Bucket=bucket, Key=f"cases/one/{rel}", Body=b"planted")
    _ok(run_prov("snapshot", http_server.url("/"), "--case", url, "-q", env=env, timeout=180))
    assert not (_mirror(env, url) / "certs" / ("0" * 64 + ".pem")).exists()  # not its sha256
    code, report = _verify(url, env)
    assert code == 3, report
    flagged = {f["subject"] for f in _findings(report, "s3.key", "fail")}
    assert {"keys", "notes.txt", "custody/log.jsonl", f"custody/entries/{0:020d}.json/x",
            "custody/entries/readme", "keys/x" * 60} <= flagged
    assert not _findings(report, "s3.entries")
    year = _warc_key(s3_server.client(), bucket).split("/")[3]
    intruder.put_object(Bucket=bucket, Key=f"cases/one/captures/{year}", Body=b"a file")
    code, report = _verify(url, env)
    assert code == 3 and f"captures/{year}" in {f["subject"] for f in _findings(report, "s3.key")}
    proc = run_prov("export", "bag", "--case", url, "-o", str(tmp_path / "bag"), env=env,
                    timeout=180)
    assert proc.returncode == 3 and "s3.key" in proc.stderr
    assert "both a file and a folder" in proc.stderr


def test_a_delete_marker_where_the_next_checkpoint_goes_is_never_written_over(
        bucket_case: tuple[str, dict[str, str]], http_server: LocalServer,
        s3_server: S3Server) -> None:  # noqa: F811
    from provenance.custody.log import checkpoint_rel

    url, env = bucket_case
    bucket, client = url[5:].split("/")[0], s3_server.client()
    key = f"cases/one/{checkpoint_rel(2)}"  # init is entry 0; a snapshot adds entry 1
    s3_server.client("intruder").delete_object(Bucket=bucket, Key=key)
    proc = run_prov("snapshot", http_server.url("/"), "--case", url, "-q", env=env,
                    timeout=180)
    assert proc.returncode == 3 and "s3.versions" in proc.stderr, proc.stderr
    listed = client.list_object_versions(Bucket=bucket, Prefix=key)
    assert "Versions" not in listed and len(listed["DeleteMarkers"]) == 1
    code, report = _verify(url, env)
    assert code == 3 and checkpoint_rel(2) in {
        f["subject"] for f in _findings(report, "s3.versions", "fail")}


def test_a_checkpoint_planted_where_the_next_one_goes_is_never_adopted(
        bucket_case: tuple[str, dict[str, str]], http_server: LocalServer,
        s3_server: S3Server) -> None:  # noqa: F811
    from provenance.custody.log import checkpoint_rel

    url, env = bucket_case
    bucket = url[5:].split("/")[0]
    planted = "prov-case/forged\n2\nAAAA\n\n\u2014 forged AAAA\n".encode()
    s3_server.client("intruder").put_object(Bucket=bucket, Key=f"cases/one/{checkpoint_rel(2)}",
                                            Body=planted)
    proc = run_prov("snapshot", http_server.url("/"), "--case", url, "-q", env=env,
                    timeout=180)
    assert proc.returncode == 3 and "another checkpoint of this size" in proc.stderr, proc.stderr
    ours = (_mirror(env, url) / checkpoint_rel(2)).read_bytes()
    assert ours != planted and ours.startswith(b"prov-case/")
    code, report = _verify(url, env)
    assert code == 3 and checkpoint_rel(2) in {
        f["subject"] for f in report["findings"] if f["status"] == "fail"}


def test_deep_json_in_the_lease_or_the_sync_file_is_no_crash(
        bucket_case: tuple[str, dict[str, str]], http_server: LocalServer,
        s3_server: S3Server) -> None:  # noqa: F811
    url, env = bucket_case
    s3_server.client("intruder").put_object(Bucket=url[5:].split("/")[0],
                                            Key="cases/one/state/lease", Body=b"[" * 4000)
    (_mirror(env, url) / "state" / "s3-sync.json").write_bytes(b"[" * 100_000)
    _ok(run_prov("snapshot", http_server.url("/"), "--case", url, "-q", env=env, timeout=180))
    log = json.loads(_ok(run_prov("log", "show", "--case", url, "--json", env=env)))
    assert [e["action"] for e in log] == ["init", "lease-takeover", "capture"]


def test_a_mirror_line_edited_in_place_is_replaced_from_the_bucket(
        bucket_case: tuple[str, dict[str, str]], http_server: LocalServer, tmp_path: Path,
        s3_server: S3Server) -> None:  # noqa: F811
    url, env = bucket_case
    bucket, client = url[5:].split("/")[0], s3_server.client()
    for page in ("/", "/?2"):
        _ok(run_prov("snapshot", http_server.url(page), "--case", url, "-q", env=env,
                     timeout=180))
    log_path = _mirror(env, url) / "custody" / "log.jsonl"
    lines = log_path.read_bytes().split(b"\n")
    cut = lines[1].index(b'"sig":"') + 10
    lines[1] = lines[1][:cut] + (b"A" if lines[1][cut:cut + 1] != b"A" else b"B") + lines[
        1][cut + 1:]  # same length: the tree cache does not notice
    log_path.write_bytes(b"\n".join(lines))
    _ok(run_prov("snapshot", http_server.url("/?b"), "--case", url, "-q",
                 env=_second_home(env, tmp_path, "machine-b"), timeout=180))
    _ok(run_prov("snapshot", http_server.url("/?a"), "--case", url, "-q", env=env,
                 timeout=180))
    mirrored = log_path.read_bytes().splitlines()
    assert len(mirrored) == 5 and mirrored[1] == client.get_object(
        Bucket=bucket, Key=f"cases/one/custody/entries/{1:020d}.json")["Body"].read()[:-1]
    code, report = _verify(url, env)
    assert code == 0, report


HOSTILE_KEYS = [
    "captures", "captures/2026", "custody", "custody/entries", "custody/checkpoints",
    "custody/checkpoints/00000000000000000",
    "custody/checkpoints/00000000000000000/00000000000000000001.checkpoint/x",
    "certs", "certs/" + "a" * 64 + ".pem/x", "case.json.bak", "captures/é", "captures/a b",
    "captures/%2e%2e/x", "captures/../x", "a/./b", "captures/", "/".join(["d"] * 20),
    "keys/" + "b" * 300, "custody/entries/" + "9" * 20 + ".json",
]


def test_hostile_key_names_are_findings_never_a_crash(
        bucket_case: tuple[str, dict[str, str]], http_server: LocalServer,
        s3_server: S3Server) -> None:  # noqa: F811
    url, env = bucket_case
    bucket, intruder = url[5:].split("/")[0], s3_server.client("intruder")
    _ok(run_prov("snapshot", http_server.url("/"), "--case", url, "-q", env=env, timeout=180))
    planted = []
    for rel in HOSTILE_KEYS:
        try:
            intruder.put_object(Bucket=bucket, Key=f"cases/one/{rel}", Body=b"planted")
            planted.append(rel)
        except ClientError:
            pass  # a name the server itself refuses
    assert len(planted) >= len(HOSTILE_KEYS) - 4
    code, report = _verify(url, env)
    assert code == 3
    named = {f["subject"] for f in report["findings"] if f["status"] == "fail"}
    listed = {o["Key"][len("cases/one/"):] for o in s3_server.client().list_objects_v2(
        Bucket=bucket, Prefix="cases/one/")["Contents"]}
    assert {rel for rel in planted if rel in listed} - named == set()
    for args in (["snapshot", http_server.url("/?again"), "-q"], ["log", "show"],
                 ["custody", "report"]):
        proc = run_prov(*args, "--case", url, env=env, timeout=180)
        assert proc.returncode in (0, 3), proc.stderr  # a finding or refusal, never a crash
