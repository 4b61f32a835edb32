"""Derived state (issue 14, point 2; docs/SECURITY.md, "Derived state"): nothing in CASE/state/
steers what the operator signs.

Each test changes a file in state/ the way someone who can write the case could, runs the next
command that signs, and checks that the operator signed only what the evidence says (verify
passes, or names the planted lie) and was warned that the state was rebuilt.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import make_case, prov_env, run_prov
from scheduling import WatchedSite, verify_ok
from servers import LocalServer

TREE = Path("state") / "tree"


@pytest.fixture
def site(http_server: LocalServer) -> WatchedSite:
    site = WatchedSite(http_server)
    site.page("/post", "<p>" + "an article " * 200 + "</p>")
    return site


def snapshot(env: dict[str, str], case: Path, site: WatchedSite) -> Any:
    proc = run_prov("snapshot", "--case", str(case), "-q", site.url("/post"), env=env)
    assert "Traceback" not in proc.stderr
    return proc


def flip(path: Path, offset: int = -1) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def top_level(case: Path) -> Path:
    return max((case / TREE).glob("level-*.bin"))


@pytest.mark.parametrize("where", ["every level", "top"])
def test_a_changed_tree_cache_is_rebuilt_before_the_operator_signs(
        where: str, site: WatchedSite, tmp_path: Path) -> None:
    """A flipped byte in state/tree used to make the operator sign a false checkpoint, after
    which the case failed forever, blamed on the operator's own signature."""
    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    assert snapshot(env, case, site).returncode == 0
    for level in (case / TREE).glob("level-*.bin") if where == "every level" else [
            top_level(case)]:
        flip(level)

    proc = snapshot(env, case, site)
    assert proc.returncode == 0, proc.stderr
    assert "prov: warning: state/tree" in proc.stderr and "rebuilt" in proc.stderr
    verify_ok(env, case, key_pub)
    assert "warning" not in snapshot(env, case, site).stderr  # rebuilt once, in step since


@pytest.mark.parametrize("anchor", ["the log", "a remembered root"])
def test_a_changed_tree_cache_is_caught_after_another_operators_checkpoint(
        anchor: str, site: WatchedSite, tmp_path: Path) -> None:
    """The latest checkpoint is another trusted key's: the cache is held to the root this
    user's own verify remembered (the entries after it hashed again), else to the log."""
    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    other = prov_env(tmp_path / "other")
    Path(other["PROV_HOME"]).mkdir(parents=True)
    assert run_prov("keys", "generate", env=other).returncode == 0
    other_pub = Path(other["PROV_HOME"]) / "keys" / "default.pub"
    assert run_prov("keys", "add", str(other_pub), "--case", str(case), env=env).returncode == 0
    if anchor == "a remembered root":
        proc = run_prov("verify", str(case), "--trust", str(key_pub), env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert list((Path(env["PROV_HOME"]) / "seen").rglob("roots"))
    assert snapshot(other, case, site).returncode == 0
    flip(top_level(case))

    proc = snapshot(env, case, site)
    assert proc.returncode == 0, proc.stderr
    assert "state/tree" in proc.stderr and "rebuilt" in proc.stderr
    verify_ok(env, case, key_pub)


def test_a_log_that_differs_from_the_operators_checkpoint_is_not_signed_over(
        site: WatchedSite, tmp_path: Path) -> None:
    case, _ = make_case(tmp_path)
    env = prov_env(tmp_path)
    assert snapshot(env, case, site).returncode == 0
    log = case / "custody" / "log.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    entry = json.loads(lines[1])
    entry["payload"] = entry["payload"][:-8] + ("A" if entry["payload"][-8] != "A" else "B") + (
        entry["payload"][-7:])
    lines[1] = json.dumps(entry, separators=(",", ":")).encode() + b"\n"
    log.write_bytes(b"".join(lines))
    before = log.read_bytes()
    (case / TREE / "meta.json").unlink()  # the cache is rebuilt from the changed log

    proc = snapshot(env, case, site)
    assert proc.returncode == 3, proc.stderr
    assert "differ from the checkpoint of that size you signed" in proc.stderr
    assert log.read_bytes() == before


# -- the dedup index --------------------------------------------------------------------------


def _records(folder: Path, warc_type: str) -> dict[str, dict[str, str]]:
    from warcio.archiveiterator import ArchiveIterator

    out = {}
    for warc in sorted(folder.glob("*.warc.gz")):
        with open(warc, "rb") as fh:
            for record in ArchiveIterator(fh, no_record_parse=True):
                head = dict(record.rec_headers.headers)
                if head["WARC-Type"] == warc_type:
                    out[head["WARC-Target-URI"]] = head
    return out


def test_a_planted_dedup_entry_never_makes_a_revisit_of_another_response(
        site: WatchedSite, tmp_path: Path) -> None:
    """An edited state/dedup.json used to make the next run store a revisit of an older,
    different response (and verify passed it)."""
    from scheduling import captures, schedule_run, write_sources

    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    sources = write_sources(tmp_path, [{"url": site.url("/post")}])
    index = case / "state" / "dedup.json"
    assert schedule_run(env, sources, case, "--all").returncode == 0
    older = json.loads(index.read_text())["urls"][site.url("/post")]
    site.page("/post", "<p>" + "a different article " * 200 + "</p>")
    assert schedule_run(env, sources, case, "--all").returncode == 0
    doc = json.loads(index.read_text())
    current = doc["urls"][site.url("/post")]
    assert current["record_id"] != older["record_id"]
    # the older, different response, dressed up to match what the server sends now
    doc["urls"][site.url("/post")] = {**older, "decoded": current["decoded"]}
    index.write_text(json.dumps(doc))

    proc = schedule_run(env, sources, case, "--all")
    assert proc.returncode == 0, proc.stderr
    assert "prov: warning: state/dedup.json" in proc.stderr and "rebuilt" in proc.stderr
    first, second, third = captures(case)
    (revisit,) = _records(third, "revisit").values()
    original = _records(second, "response")[site.url("/post")]
    assert revisit["WARC-Refers-To"] == original["WARC-Record-ID"]
    assert revisit["WARC-Payload-Digest"] == original["WARC-Payload-Digest"]
    assert _records(first, "response")[site.url("/post")]["WARC-Payload-Digest"] != (
        original["WARC-Payload-Digest"])
    verify_ok(env, case, key_pub)


def test_verify_fails_a_revisit_of_a_response_with_another_body(
        site: WatchedSite, tmp_path: Path, prov_home: Path) -> None:
    """A revisit that names its original exactly (id, URI, date, payload digest) but was
    written for a response whose body differs: only the decoded-body digests tell."""
    from archive.http.revisit import Original
    from provenance import api
    from provenance.base import timefmt
    from provenance.capture import snapshot as capture_mod
    from provenance.signing.keys import SigningKey

    key = SigningKey.generate("revisit-test")
    key_pub = tmp_path / "k.pub"
    key_pub.write_bytes(key.public.pem())
    made = api.init_case(tmp_path / "case", "t", key, timefmt.utc_now())
    options = api.capture_options()
    first = capture_mod.snapshot(made, [site.url("/post")], key, options)
    head = _records(made.root / first.capture_dir, "response")[site.url("/post")]
    older = Original(head["WARC-Record-ID"], site.url("/post"), head["WARC-Date"],
                     head["WARC-Payload-Digest"])
    site.page("/post", "<p>" + "a different article " * 200 + "</p>")
    second = capture_mod.snapshot(made, [site.url("/post")], key, options,
                                  dedup=lambda ex, record: older)

    proc = run_prov("verify", str(made.root), "--trust", str(key_pub), "--json",
                    "--no-remember")
    assert proc.returncode == 3, proc.stderr
    report = json.loads(proc.stdout)
    failed = [f for f in report["findings"] if f["status"] == "fail"]
    assert [f["check"] for f in failed] == ["revisit.decoded"]
    revisit = _records(made.root / second.capture_dir, "revisit")[site.url("/post")]
    assert failed[0]["subject"].startswith(f"{second.capture_dir}/data-00000.warc.gz @")
    assert failed[0]["subject"].endswith(revisit["WARC-Record-ID"])


# -- the schedule state -----------------------------------------------------------------------


def _plant_title(entry: dict[str, Any]) -> None:
    entry["fingerprint"]["title"] = "Election results: 52% turnout"


def _plant_digest(entry: dict[str, Any]) -> None:
    entry["fingerprint"]["digest"] = "sha256:" + "0" * 64


def _plant_removed(entry: dict[str, Any]) -> None:
    entry["removed"] = "HTTP 404"


@pytest.mark.parametrize("plant", [_plant_title, _plant_digest, _plant_removed],
                         ids=["title", "digest", "removed"])
def test_a_planted_schedule_state_never_makes_the_operator_sign_a_change(
        plant: Any, site: WatchedSite, tmp_path: Path) -> None:
    """state/schedule.json holds each source's previous snapshot: a change or takedown entry
    the operator signs must come from the sealed captures, not from that file's word."""
    from scheduling import log_entries, schedule_run, state, write_sources

    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    sources = write_sources(tmp_path, [{"url": site.url("/post")}])
    assert schedule_run(env, sources, case, "--all").returncode == 0
    doc = state(case)
    plant(doc["sources"][site.url("/post")])
    (case / "state" / "schedule.json").write_text(json.dumps(doc))

    proc = schedule_run(env, sources, case, "--all")  # the page did not change
    assert proc.returncode == 0, proc.stderr
    assert "prov: warning: state/schedule.json" in proc.stderr and "rebuilt" in proc.stderr
    actions = [e["action"] for e in log_entries(case)]
    assert "change-detected" not in actions and "takedown-detected" not in actions
    verify_ok(env, case, key_pub)

    site.page("/post", "<p>" + "an edited article " * 200 + "</p>")  # a real change still counts
    proc = schedule_run(env, sources, case, "--all")
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr
    (change,) = [e for e in log_entries(case) if e["action"] == "change-detected"]
    assert "content changed" in change["details"]["changes"]


def _plant_original(case: Path, source: Path, body: bytes, replacement: bytes) -> Path:
    """A folder newer than every capture holding a copy of ``source`` whose response bodies
    say ``replacement`` instead of ``body`` (same length, same record ids), with its own index:
    what a revisit's original is looked up in, but sealed by nobody."""
    import gzip
    import zlib

    from archive.warc.cdxj import write_index

    planted = case / "captures" / "2099" / "01" / "01" / source.name
    planted.mkdir(parents=True)
    for warc in source.glob("*.warc.gz"):
        data, members = warc.read_bytes(), []
        while data:
            inflate = zlib.decompressobj(31)
            members.append(gzip.compress(inflate.decompress(data).replace(body, replacement)))
            data = inflate.unused_data
        (planted / warc.name).write_bytes(b"".join(members))
    write_index(planted, sorted(p.name for p in planted.glob("*.warc.gz")))
    return planted


def test_a_planted_folder_is_never_read_as_a_revisits_original(
        site: WatchedSite, tmp_path: Path) -> None:
    """Bodies of revisits' originals feed the change and takedown entries a run signs: they
    are read only from captures sealed for the case, never from a folder anyone can plant."""
    from scheduling import captures, log_entries, schedule_run, write_sources

    case, _ = make_case(tmp_path)
    env = prov_env(tmp_path)
    sources = write_sources(tmp_path, [{"url": site.url("/post")}])
    for _ in range(2):  # a response, then a revisit of it
        assert schedule_run(env, sources, case, "--all").returncode == 0
    first, second = captures(case)
    assert _records(second, "revisit")
    _plant_original(case, first, b"an article " * 20, b"page gone. " * 20)

    proc = schedule_run(env, sources, case, "--all")
    assert proc.returncode == 0, proc.stderr
    actions = [e["action"] for e in log_entries(case)]
    assert "change-detected" not in actions and "takedown-detected" not in actions, proc.stdout


# -- planted files in state/ ----------------------------------------------------------------

PLANTS = [("state", "symlink"), ("state/tree", "symlink"), ("state/tree", "fifo"),
          ("state/tree/meta.json", "fifo"), ("state/tree/level-00.bin", "folder"),
          ("state/dedup.json", "fifo"), ("state/dedup.json", "folder"),
          ("state/schedule.json", "fifo"), ("state/runs.log", "fifo"),
          ("state/schedule.lock", "folder")]


@pytest.mark.parametrize(("where", "kind"), PLANTS, ids=[f"{w}:{k}" for w, k in PLANTS])
def test_a_planted_file_in_state_is_set_aside(where: str, kind: str, site: WatchedSite,
                                              tmp_path: Path) -> None:
    """Whatever sits where prov keeps derived state, the next run neither crashes, nor
    hangs, nor writes through a link: it is moved aside and the state made again."""
    import os
    import shutil

    from scheduling import schedule_run, write_sources

    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    sources = write_sources(tmp_path, [{"url": site.url("/post")}])
    assert schedule_run(env, sources, case, "--all").returncode == 0
    target, outside = case / where, tmp_path / "outside"
    outside.mkdir()
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    if kind == "symlink":
        target.symlink_to(outside, target_is_directory=True)
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        (target / "deeper").mkdir(parents=True)

    proc = schedule_run(env, sources, case, "--all")
    assert proc.returncode == 0, proc.stderr
    assert list(outside.iterdir()) == []
    assert (case / "state" / "schedule.json").is_file()
    verify_ok(env, case, key_pub)
    assert schedule_run(env, sources, case, "--all").returncode == 0


def test_a_planted_case_lock_is_a_clear_error(site: WatchedSite, tmp_path: Path) -> None:
    case, _ = make_case(tmp_path)
    env = prov_env(tmp_path)
    (case / ".lock").unlink(missing_ok=True)
    (case / ".lock").mkdir()
    proc = snapshot(env, case, site)
    assert proc.returncode == 3, proc.stderr
    assert ".lock: cannot be the case's lock" in proc.stderr


@pytest.mark.parametrize("where", ["state/tree/meta.json", "state/schedule.json"])
def test_deeply_nested_json_in_state_is_rebuilt_not_a_crash(
        where: str, site: WatchedSite, tmp_path: Path) -> None:
    """4 KB of ``[`` in a state file made json.loads raise RecursionError: every command that
    appends (snapshot, schedule run) ended in exit 1. Read by untrusted.load_json, it is
    state that does not match, rebuilt."""
    from scheduling import schedule_run, write_sources

    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    sources = write_sources(tmp_path, [{"url": site.url("/post")}])
    assert schedule_run(env, sources, case, "--all").returncode == 0
    (case / where).write_bytes(b"[" * 4096)
    proc = schedule_run(env, sources, case, "--all")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    verify_ok(env, case, key_pub)


def test_captures_show_of_a_hostile_seal_is_a_clear_error(
        site: WatchedSite, tmp_path: Path) -> None:
    """`captures show` reads the seal without verifying it: a seal whose statement nests
    10,000 deep crashed it (json.loads); now it is exit 3 naming the seal, and a FIFO in
    place of a sealed WARC is named, never opened for a blocking read."""
    import base64
    import os

    case, _ = make_case(tmp_path)
    env = prov_env(tmp_path)
    assert snapshot(env, case, site).returncode == 0
    (seal,) = case.glob("captures/*/*/*/*/seal.dsse.json")
    capture_id = seal.parent.name
    original = seal.read_bytes()
    doc = json.loads(original)
    doc["payload"] = base64.b64encode(b"[" * 10_000).decode()
    seal.write_text(json.dumps(doc))
    proc = run_prov("captures", "show", capture_id, "--case", str(case), env=env)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr, proc.stderr
    assert "seal.dsse.json" in proc.stderr and "nested" in proc.stderr
    seal.write_bytes(original)
    (warc,) = seal.parent.glob("data-*.warc.gz")
    warc.unlink()
    os.mkfifo(warc)
    proc = run_prov("captures", "show", capture_id, "--case", str(case), env=env, timeout=30)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr, proc.stderr
    assert "a FIFO, not a regular file" in proc.stderr


def test_a_new_case_warns_about_nothing(tmp_path: Path, http_server: LocalServer) -> None:
    """state/tree does not exist before the first append: that is not a planted file (the
    warning "state/tree ... did not match" used to greet every new case). Init, snapshots and
    verify of an honest case warn about nothing (a warning honest use gives trains users to
    ignore the one that matters); verify's first run says only that it knew no earlier
    checkpoint."""
    env = prov_env(tmp_path)
    assert run_prov("keys", "generate", env=env).returncode == 0
    proc = run_prov("init", str(tmp_path / "case"), "--tsa", "none", env=env)
    assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr
    for _ in range(2):  # the first append makes state/tree, the second reads it
        proc = run_prov("snapshot", "--case", str(tmp_path / "case"), "--tsa", "none",
                        http_server.url("/page.html"), env=env)
        assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr
    key = tmp_path / "prov-home" / "keys" / "default.pub"
    for run in range(2):  # the second run knows the checkpoint the first remembered
        proc = run_prov("verify", str(tmp_path / "case"), "--json", "--trust", str(key),
                        env=env)
        assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr
        report = json.loads(proc.stdout)
        warned = [f["check"] for f in report["findings"] if f["status"] in ("warn", "fail")]
        assert warned == ([] if run else ["history.unanchored"]), report["findings"]
