"""`prov snapshot` end to end against real local HTTP(S) servers (WARC 1.1, RFC 9112).

Every WARC is read back with warcio (an independent reader) and checked with the peers'
own command-line checkers, `warcio check -v` and `fastwarc check`. Bytes are compared with
what the test server actually received (its request log) and sent (`servers.RESPONSES`).
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from helpers import free_port, make_case, prov_env, run_prov
from servers import (
    CHUNKED_BODY,
    GZIP_BODY,
    NOT_FOUND_BODY,
    PAGE_BODY,
    RESPONSES,
    SERVER_ERROR_BODY,
    LocalServer,
    big_body,
    big_head,
    chunked,
    redirect_chain_response,
    response,
    slow_head,
    slow_pieces,
)
from servers import Exchange as ServerExchange
from testca import TestCA
from warcio.archiveiterator import ArchiveIterator

BIN = Path(sys.executable).parent
EXIT_CAPTURE_FAILED = 5

# -- reading what prov wrote ------------------------------------------------------------------


@dataclass(frozen=True)
class Rec:
    """One WARC record as warcio reads it: type, headers, exact block bytes."""

    type: str
    headers: dict[str, str]
    block: bytes

    @property
    def id(self) -> str:
        return self.headers["WARC-Record-ID"]

    def get(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def http_head(self) -> bytes:
        return self.block.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"

    @property
    def http_payload(self) -> bytes:
        return self.block.split(b"\r\n\r\n", 1)[1]

    def json(self) -> dict[str, Any]:
        value = json.loads(self.block)
        assert isinstance(value, dict)
        return value


@dataclass(frozen=True)
class Group:
    """One exchange: request, response and the metadata record Concurrent-To the response
    (or to the request alone, when nothing came back; or to nothing, when nothing was sent)."""

    url: str
    request: Rec | None
    response: Rec | None
    metadata: Rec

    @property
    def meta(self) -> dict[str, Any]:
        return self.metadata.json()


def read_records(path: Path) -> list[Rec]:
    out = []
    with open(path, "rb") as fh:
        for record in ArchiveIterator(fh, no_record_parse=True):
            headers = dict(record.rec_headers.headers)
            out.append(Rec(record.rec_type, headers, record.raw_stream.read()))
    return out


def capture_warcs(case: Path, capture_dir: str) -> list[Path]:
    files = sorted((case / capture_dir).glob("*.warc.gz"))
    assert files, f"no WARC files in {capture_dir}"
    return files


def exchanges(records: list[Rec]) -> list[Group]:
    """Group records by WARC-Concurrent-To, checking that every link points both ways."""
    by_id = {r.id: r for r in records}
    assert len(by_id) == len(records), "duplicate WARC-Record-IDs"
    groups = []
    for meta in records:
        url = meta.get("WARC-Target-URI") or ""
        if meta.type != "metadata" or not url.startswith("http"):
            continue
        to = meta.get("WARC-Concurrent-To")
        if to is None:
            groups.append(Group(url, None, None, meta))
            continue
        if by_id[to].type == "request":  # sent, but nothing came back
            assert by_id[to].get("WARC-Concurrent-To") is None
            assert by_id[to].get("WARC-Target-URI") == url
            groups.append(Group(url, by_id[to], None, meta))
            continue
        response = by_id[to]
        assert response.type == "response"
        request = by_id[response.headers["WARC-Concurrent-To"]]
        assert request.type == "request"
        assert request.get("WARC-Concurrent-To") == response.id
        assert request.get("WARC-Target-URI") == response.get("WARC-Target-URI") == url
        groups.append(Group(url, request, response, meta))
    # nothing outside a group: every request/response record belongs to exactly one exchange
    grouped = [r.id for g in groups for r in (g.request, g.response) if r is not None]
    loose = [r.id for r in records if r.type in ("request", "response")]
    assert sorted(grouped) == sorted(loose)
    return groups


def groups_for(groups: list[Group], url: str) -> list[Group]:
    found = [g for g in groups if g.url == url]
    assert found, f"no exchange recorded for {url}"
    return found


# -- peer checkers ------------------------------------------------------------------------------


def assert_peer_checks(warc: Path) -> None:
    """`warcio check -v` says "digest pass" for every non-revisit record; fastwarc agrees."""
    proc = subprocess.run(
        [BIN / "warcio", "check", "-v", warc],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    verdicts: list[tuple[str, list[str]]] = []
    for line in proc.stdout.splitlines()[1:]:
        match = re.match(r"^  offset \d+ WARC-Record-ID <[^>]+> (\S+)$", line)
        if match:
            verdicts.append((match[1], []))
        else:
            assert verdicts, line
            verdicts[-1][1].append(line.strip())
    assert len(verdicts) == len(read_records(warc))
    for warc_type, said in verdicts:
        if warc_type != "revisit":
            assert "digest pass" in said, (warc_type, said)
        assert not [s for s in said if "fail" in s], (warc_type, said)
    proc = subprocess.run(
        [BIN / "fastwarc", "check", "-q", warc],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def assert_digests(rec: Rec) -> None:
    """WARC-Block-Digest and WARC-Payload-Digest as prov's format says (sha256, hex)."""
    assert rec.get("WARC-Block-Digest") == "sha256:" + hashlib.sha256(rec.block).hexdigest()
    assert rec.get("Content-Length") == str(len(rec.block))
    if rec.type == "response":
        payload = hashlib.sha256(rec.http_payload).hexdigest()
        assert rec.get("WARC-Payload-Digest") == "sha256:" + payload


# -- running prov -------------------------------------------------------------------------------


@dataclass
class Snap:
    """One `prov snapshot --json` run and what it left in the case."""

    proc: subprocess.CompletedProcess[str]
    case: Path
    key_pub: Path
    env: dict[str, str]
    summary: dict[str, Any]
    warcs: list[Path]
    records: list[Rec]
    seconds: float

    @property
    def groups(self) -> list[Group]:
        return exchanges(self.records)

    def outcome(self, url: str) -> dict[str, Any]:
        [row] = [u for u in self.summary["urls"] if u["url"] == url]
        return row

    def prov(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_prov(*args, "--case", str(self.case), env=self.env)


def snapshot(tmp: Path, *args: str) -> Snap:
    """Make a key and case under `tmp`, then `prov snapshot --json ARGS` into it."""
    case_path, key_pub = make_case(tmp)
    env = prov_env(tmp)
    start = time.monotonic()
    proc = run_prov("snapshot", "--case", str(case_path), "--json", *args, env=env)
    seconds = time.monotonic() - start
    assert proc.stdout, proc.stderr
    summary = json.loads(proc.stdout)
    warcs = capture_warcs(case_path, summary["captureDir"])
    records = [r for w in warcs for r in read_records(w)]
    return Snap(proc, case_path, key_pub, env, summary, warcs, records, seconds)


def assert_case_verifies(snap: Snap) -> None:
    proc = run_prov("verify", str(snap.case), "--trust", str(snap.key_pub), env=snap.env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- one batch over HTTP and HTTPS, shared by the byte-exactness tests ----------------------------

HTTP_PATHS = (
    "/page.html",
    "/chunked",
    "/gzip",
    "/gzip-chunked",
    "/404",
    "/500",
    "/redirect",
    "/redirect/3",
)
HTTPS_PATHS = ("/page.html", "/chunked", "/gzip", "/gzip-chunked", "/redirect")

#: the body after transfer decoding (chunk framing removed, content coding kept)
DECODED = {
    "/page.html": PAGE_BODY,
    "/chunked": CHUNKED_BODY,
    "/gzip": GZIP_BODY,
    "/gzip-chunked": GZIP_BODY,
    "/404": NOT_FOUND_BODY,
    "/500": SERVER_ERROR_BODY,
}


def sent_bytes(path: str) -> bytes:
    if path.startswith("/redirect/"):
        return redirect_chain_response(int(path.rsplit("/", 1)[1]))
    return RESPONSES[path]


@dataclass
class Batch:
    snap: Snap
    http: LocalServer
    https: LocalServer
    ca: TestCA

    def server(self, scheme: str) -> LocalServer:
        return self.http if scheme == "http" else self.https


@pytest.fixture(scope="module")
def batch(test_ca: TestCA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Batch]:
    tmp = tmp_path_factory.mktemp("batch")
    root = test_ca.write_root(tmp / "test-root.pem")
    with LocalServer() as http, LocalServer(tls=test_ca) as https:
        urls = [http.url(p) for p in HTTP_PATHS] + [https.url(p) for p in HTTPS_PATHS]
        snap = snapshot(tmp, "--ca-file", str(root), "--timeout", "10", *urls)
        yield Batch(snap, http, https, test_ca)


def test_batch_succeeds_and_404_500_are_evidence(batch: Batch) -> None:
    snap = batch.snap
    assert snap.proc.returncode == 0, snap.proc.stdout + snap.proc.stderr
    statuses = {u["url"]: u["status"] for u in snap.summary["urls"]}
    assert statuses[batch.http.url("/404")] == 404
    assert statuses[batch.http.url("/500")] == 500
    assert all(u["error"] is None for u in snap.summary["urls"])
    [group] = groups_for(snap.groups, batch.http.url("/404"))
    assert group.response is not None
    assert group.response.block == RESPONSES["/404"]
    # a 500 is retried (--retries 2 by default); every answer is evidence
    attempts = {u["url"]: u["attempts"] for u in snap.summary["urls"]}
    groups = groups_for(snap.groups, batch.http.url("/500"))
    assert len(groups) == attempts[batch.http.url("/500")] == 3
    for group in groups:
        assert group.response is not None
        assert group.response.block == RESPONSES["/500"]


@pytest.mark.parametrize(
    ("scheme", "path"),
    [("http", p) for p in HTTP_PATHS] + [("https", p) for p in HTTPS_PATHS],
)
def test_exchange_is_byte_exact(batch: Batch, scheme: str, path: str) -> None:
    server = batch.server(scheme)
    received = [r.raw for r in server.requests if r.target == path]
    assert received, f"the server never saw {path}"
    # /page.html is also the end of the redirect chains: every fetch of it must be exact
    for group in groups_for(batch.snap.groups, server.url(path)):
        assert_exchange_exact(group, received, scheme, path, server.port)


def assert_exchange_exact(
    group: Group, received: list[bytes], scheme: str, path: str, port: int
) -> None:
    assert group.request is not None and group.response is not None
    assert group.request.block in received
    assert group.request.block.startswith(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
    )
    # exactly the bytes sent: status line, header case and order, chunk framing
    # (with /chunked's extension), gzip as on the wire
    assert group.response.block == sent_bytes(path)
    for rec, msgtype in ((group.request, "request"), (group.response, "response")):
        assert rec.get("WARC-IP-Address") == "127.0.0.1"
        assert rec.get("Content-Type") == f"application/http;msgtype={msgtype}"
        assert rec.get("WARC-Truncated") is None
        assert_digests(rec)
    assert group.metadata.get("WARC-Concurrent-To") == group.response.id
    assert group.metadata.get("Content-Type") == "application/json"
    meta = group.meta
    decoded = DECODED.get(path, b"")
    assert meta["decodedBodySha256"] == "sha256:" + hashlib.sha256(decoded).hexdigest()
    assert meta["decodedBodyLength"] == len(decoded)
    assert meta["addresses"] == ["127.0.0.1"]
    timings = meta["timingsMs"]
    # a kept-alive connection is connected once: later exchanges on it have no "connect"
    reused = meta["connection"]["reused"]
    assert ("connect" in timings) != reused
    phases = ("sent", "first_byte", "end") if reused else ("connect", "sent", "first_byte", "end")
    order = [timings[k] for k in phases]
    assert order == sorted(order) and order[0] >= 0
    assert "error" not in meta and "truncated" not in meta
    assert ("tls" in meta) == (scheme == "https")


def test_every_request_the_servers_saw_was_recorded(batch: Batch) -> None:
    requests = [g.request for g in batch.snap.groups if g.request is not None]
    for scheme in ("http", "https"):
        server = batch.server(scheme)
        recorded = sorted(
            r.block
            for r in requests
            if (r.get("WARC-Target-URI") or "").startswith(server.origin())
        )
        assert recorded == sorted(r.raw for r in server.requests)


def der(pem: str | bytes) -> bytes:
    data = pem.encode() if isinstance(pem, str) else pem
    return x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)


@pytest.mark.parametrize("path", HTTPS_PATHS)
def test_https_metadata_records_the_tls_session(batch: Batch, path: str) -> None:
    wire = [c.public_bytes(Encoding.DER) for c in batch.ca.leaf.chain]  # leaf, intermediate
    for group in groups_for(batch.snap.groups, batch.https.url(path)):
        tls = group.meta["tls"]
        assert [der(p) for p in tls["chainSent"]] == wire
        assert [der(p) for p in tls["verifiedPath"]] == [*wire, der(batch.ca.root_pem)]
        assert tls["version"] in ("TLSv1.2", "TLSv1.3")
        assert tls["cipher"]
        assert tls["serverName"] == "127.0.0.1"
        assert "test-root.pem" in tls["trustStore"]
        assert tls["verified"] is True


def test_redirect_hops_are_all_recorded(batch: Batch) -> None:
    http = batch.http
    chain = ["/redirect/3", "/redirect/2", "/redirect/1", "/page.html"]
    assert batch.snap.outcome(http.url("/redirect/3"))["hops"] == [http.url(p) for p in chain]
    assert batch.snap.outcome(http.url("/redirect/3"))["finalUrl"] == http.url("/page.html")
    assert batch.snap.outcome(http.url("/redirect"))["hops"] == [
        http.url("/redirect"),
        http.url("/page.html"),
    ]
    assert batch.snap.outcome(batch.https.url("/redirect"))["hops"] == [
        batch.https.url("/redirect"),
        batch.https.url("/page.html"),
    ]
    groups = batch.snap.groups
    for path in ("/redirect/2", "/redirect/1"):
        [group] = groups_for(groups, http.url(path))
        assert group.response is not None and group.response.block == sent_bytes(path)
    # /page.html was fetched as a seed and at the end of both HTTP chains
    assert len(groups_for(groups, http.url("/page.html"))) == 3


def test_batch_warcs_pass_peer_checks(batch: Batch) -> None:
    for warc in batch.snap.warcs:
        assert_peer_checks(warc)


def test_batch_verifies_and_captures_commands_show_it(batch: Batch) -> None:
    snap = batch.snap
    assert_case_verifies(snap)
    listed = snap.prov("captures", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    capture_id = snap.summary["captureId"]
    assert row["captureId"] == capture_id
    assert row["captureDir"] == snap.summary["captureDir"]
    assert (row["urls"], row["failed"]) == (len(HTTP_PATHS) + len(HTTPS_PATHS), 0)
    shown = snap.prov("captures", "show", capture_id[:13], "--json")
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["captureId"] == capture_id
    assert detail["seal"]["predicate"]["captureId"] == capture_id
    subjects = {s["name"]: s["digest"]["sha256"] for s in detail["seal"]["subject"]}
    sealed = [*snap.warcs, snap.warcs[0].with_name("index.cdxj")]  # the WARCs and their index
    assert subjects == {w.name: hashlib.sha256(w.read_bytes()).hexdigest() for w in sealed}
    assert detail["seal"]["predicate"]["records"] == {
        w.name: len(read_records(w)) for w in snap.warcs
    }
    status = {r["uri"]: r["status"] for r in detail["records"] if r["type"] == "response"}
    assert status[batch.http.url("/404")] == "HTTP/1.1 404 Not Found"
    assert status[batch.https.url("/chunked")] == "HTTP/1.1 200 OK"
    assert status[batch.http.url("/redirect/1")] == "HTTP/1.1 302 Found"


# -- redirects that must stop ---------------------------------------------------------------------


def test_redirect_loop_and_max_redirects(http_server: LocalServer, tmp_path: Path) -> None:
    url = http_server.url
    snap = snapshot(
        tmp_path,
        "--max-redirects",
        "2",
        url("/redirect-loop-a"),
        url("/redirect/3"),
        url("/redirect/2"),
    )
    assert snap.proc.returncode == EXIT_CAPTURE_FAILED, snap.proc.stderr
    loop = snap.outcome(url("/redirect-loop-a"))
    assert loop["error"] == f"redirect loop at {url('/redirect-loop-a')}"
    assert loop["hops"] == [url("/redirect-loop-a"), url("/redirect-loop-b")]
    too_many = snap.outcome(url("/redirect/3"))
    assert too_many["error"] is not None and "more than 2 redirects" in too_many["error"]
    assert too_many["hops"] == [url(p) for p in ("/redirect/3", "/redirect/2", "/redirect/1")]
    exactly_two = snap.outcome(url("/redirect/2"))  # two redirects are allowed by 2
    assert (exactly_two["error"], exactly_two["status"]) == (None, 200)
    assert exactly_two["finalUrl"] == url("/page.html")
    groups = snap.groups
    for path in ("/redirect-loop-a", "/redirect-loop-b"):
        [group] = groups_for(groups, url(path))  # each recorded once, never refetched
        assert group.response is not None and group.response.block == RESPONSES[path]
    # the third redirect of /redirect/3 was not followed: /page.html came from /redirect/2 only
    assert len(groups_for(groups, url("/redirect/1"))) == 2
    assert len(groups_for(groups, url("/page.html"))) == 1
    for warc in snap.warcs:
        assert_peer_checks(warc)
    assert_case_verifies(snap)


# -- truncation: time, length, disconnect ---------------------------------------------------------

SLOW = "/slow?delay=0.3&pieces=20"  # 6 s in all; --timeout 1 must cut it
MAX_BODY = 1000


@pytest.fixture(scope="module")
def truncations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Snap, LocalServer]]:
    tmp = tmp_path_factory.mktemp("truncations")
    with LocalServer() as http:
        urls = [
            http.url(p) for p in (SLOW, "/big?size=200000", f"/big?size={MAX_BODY}", "/close-mid")
        ]
        yield snapshot(tmp, "--timeout", "1", "--max-body", str(MAX_BODY), *urls), http


def truncated_group(truncations: tuple[Snap, LocalServer], path: str) -> Group:
    snap, http = truncations
    [group] = groups_for(snap.groups, http.url(path))
    assert group.request is not None and group.response is not None
    assert group.request.block in [r.raw for r in http.requests if r.target == path]
    assert group.response.get("WARC-IP-Address") == "127.0.0.1"
    assert_digests(group.response)
    return group


def test_truncated_responses_are_still_captured(truncations: tuple[Snap, LocalServer]) -> None:
    snap, _ = truncations
    assert snap.proc.returncode == 0, snap.proc.stdout + snap.proc.stderr
    assert snap.seconds < 5, "the timeout did not stop /slow"
    for warc in snap.warcs:
        assert_peer_checks(warc)
    assert_case_verifies(snap)


def test_timeout_marks_time(truncations: tuple[Snap, LocalServer]) -> None:
    group = truncated_group(truncations, SLOW)
    assert group.response is not None
    full = slow_head(20) + b"".join(slow_pieces(20))
    block = group.response.block
    assert block.startswith(slow_head(20)) and full.startswith(block) and block != full
    assert group.response.get("WARC-Truncated") == "time"
    assert group.meta["truncated"] == "time"
    assert truncations[0].outcome(truncations[1].url(SLOW))["truncated"] == "time"


def test_max_body_marks_length_and_stops_at_the_limit(
    truncations: tuple[Snap, LocalServer],
) -> None:
    group = truncated_group(truncations, "/big?size=200000")
    assert group.response is not None
    assert group.response.get("WARC-Truncated") == "length"
    assert group.meta["truncated"] == "length"
    assert group.response.http_head == big_head(200000)
    assert group.response.http_payload == big_body(200000)[:MAX_BODY]
    assert group.meta["decodedBodyLength"] == MAX_BODY


def test_body_of_exactly_max_body_is_complete(truncations: tuple[Snap, LocalServer]) -> None:
    group = truncated_group(truncations, f"/big?size={MAX_BODY}")
    assert group.response is not None
    assert group.response.block == big_head(MAX_BODY) + big_body(MAX_BODY)
    assert group.response.get("WARC-Truncated") is None
    assert "truncated" not in group.meta


def test_close_mid_body_marks_disconnect(truncations: tuple[Snap, LocalServer]) -> None:
    group = truncated_group(truncations, "/close-mid")
    assert group.response is not None
    assert group.response.block == RESPONSES["/close-mid"]
    assert group.response.get("WARC-Truncated") == "disconnect"
    assert group.meta["truncated"] == "disconnect"
    assert group.meta["decodedBodyLength"] == 10


def test_summary_line_says_a_response_was_truncated(
    http_server: LocalServer, tmp_path: Path
) -> None:
    case, _ = make_case(tmp_path)
    url = http_server.url("/close-mid")
    proc = run_prov("snapshot", "--case", str(case), url, env=prov_env(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status, seed, detail = proc.stdout.splitlines()[0].split("\t")
    assert (status, seed) == ("200", url)
    assert "truncated" in detail and "disconnect" in detail


def test_progress_is_drawn_on_a_terminal_only(http_server: LocalServer, tmp_path: Path) -> None:
    from helpers import run_prov_on_terminal

    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    url = http_server.url("/")
    live, drawn = run_prov_on_terminal("snapshot", "--case", case, url, env=env)
    assert live.returncode == 0, drawn
    assert b"1 done, 0 queued, 0 failed" in drawn and url.encode() in drawn
    assert drawn.count(b"\x1b[2K") >= 1 and drawn.endswith(b"\x1b[2K")  # erased at the end
    table = live.stdout.decode().splitlines()
    assert table[0].startswith(f"200\t{url}\t") and table[1].startswith("capture ")
    assert "\x1b" not in live.stdout.decode()  # stdout untouched by the display
    as_json, drawn = run_prov_on_terminal("snapshot", "--case", case, "--json", url, env=env)
    assert as_json.returncode == 0 and drawn == b""  # --json: nothing drawn
    assert json.loads(as_json.stdout)["urls"][0]["url"] == url
    quiet, drawn = run_prov_on_terminal("snapshot", "--case", case, "-q", url, env=env)
    assert (quiet.returncode, quiet.stdout, drawn) == (0, b"", b"")
    piped = run_prov("snapshot", "--case", str(case), url, env=env)  # not a terminal
    assert piped.stdout.splitlines()[0].startswith(f"200\t{url}\t")
    assert "\x1b" not in piped.stderr + piped.stdout
    verify = ("verify", case, "--trust", key_pub, "--no-remember", "--json")
    live, drawn = run_prov_on_terminal(*verify, env=env)
    plain = run_prov(*verify, env=env)
    assert live.returncode == plain.returncode == 0, plain.stdout
    assert b"4/4 files" in drawn and drawn.endswith(b"\x1b[2K")  # the case's four WARCs
    assert live.stdout.decode() == plain.stdout and plain.stderr == ""


def test_progress_is_erased_when_a_capture_is_interrupted(http_server: LocalServer,
                                                         tmp_path: Path) -> None:
    import os
    import pty
    import select
    import signal

    from helpers import PROV_MAIN

    case, _ = make_case(tmp_path)
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", PROV_MAIN, "snapshot", "--case", str(case),
                             http_server.url("/"), http_server.url("/endless")],
                            env=prov_env(tmp_path), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    drawn = b""
    try:
        deadline = time.monotonic() + 60
        while b"1 done" not in drawn and time.monotonic() < deadline:
            if select.select([leader], [], [], 1)[0]:
                drawn += os.read(leader, 65536)
        proc.send_signal(signal.SIGINT)  # Ctrl-C while /endless is being fetched
        proc.wait(timeout=60)
        while select.select([leader], [], [], 1)[0]:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
        os.close(leader)
    assert b"1 done" in drawn
    hidden = drawn.rindex(b"\x1b[?25l")  # rich hides the cursor while it draws
    after = drawn[hidden:]
    assert b"\x1b[?25h" in after and b"\x1b[2K" in after  # shown again, the line erased
    assert after.rsplit(b"\x1b[2K", 1)[1].startswith(b"\r\nprov: ")  # then the message
    assert proc.returncode not in (0, 1)


# -- failures are evidence too ---------------------------------------------------------------------


def test_unreachable_host_fails_clearly_and_is_logged(tmp_path: Path) -> None:
    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = run_prov("snapshot", "--case", str(case), "--timeout", "2", url, env=env)
    assert proc.returncode == EXIT_CAPTURE_FAILED, proc.stdout + proc.stderr
    line = proc.stdout.splitlines()[0]
    status, seed, detail = line.split("\t")
    assert (status, seed) == ("FAILED", url)
    assert detail == f"cannot connect to 127.0.0.1:{port}: Connection refused"
    assert "Traceback" not in proc.stderr
    entries = json.loads(run_prov("log", "show", "--case", str(case), "--json", env=env).stdout)
    [failed] = [e for e in entries if e["action"] == "capture-failed"]
    assert failed["details"]["failures"] == [{"url": url, "error": detail}]
    [capture] = [e for e in entries if e["action"] == "capture"]
    assert (capture["details"]["urls"], capture["details"]["failed"]) == (1, 1)
    warcs = capture_warcs(case, capture["details"]["captureDir"])
    records = [r for w in warcs for r in read_records(w)]
    [group] = exchanges(records)
    assert (group.url, group.request, group.response) == (url, None, None)
    assert group.meta["error"] == detail
    for warc in warcs:
        assert_peer_checks(warc)
    verified = run_prov("verify", str(case), "--trust", str(key_pub), env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr


@dataclass(frozen=True)
class BadTls:
    name: str
    host: str
    message: str  # OpenSSL's verify message, as prov must pass it on


BAD_TLS = [
    BadTls("untrusted", "127.0.0.1", "unable to get local issuer certificate"),
    BadTls("expired", "127.0.0.1", "certificate has expired"),
    BadTls("wrong-host-ip", "127.0.0.1", "IP address mismatch"),
    BadTls("wrong-host-name", "localhost", "Hostname mismatch"),
    BadTls("self-signed", "127.0.0.1", "self-signed certificate"),
]


def bad_server(ca: TestCA, bad: BadTls) -> LocalServer:
    if bad.name == "untrusted":
        return LocalServer(tls=TestCA("prov Other"))
    leaf = ca.issue(
        expired=bad.name == "expired",
        wrong_host=bad.name.startswith("wrong"),
        self_signed=bad.name == "self-signed",
    )
    return LocalServer(tls=ca, leaf=leaf)


@pytest.mark.parametrize("bad", BAD_TLS, ids=lambda b: b.name)
def test_bad_certificate_fails_and_sends_nothing(
    bad: BadTls, test_ca: TestCA, tmp_path: Path
) -> None:
    root = test_ca.write_root(tmp_path / "root.pem")
    with bad_server(test_ca, bad) as server:
        url = server.url("/page.html", host=bad.host)
        snap = snapshot(tmp_path, "--ca-file", str(root), "--timeout", "5", url)
        assert server.requests == []  # no request went over a connection we did not trust
    assert snap.proc.returncode == EXIT_CAPTURE_FAILED, snap.proc.stdout + snap.proc.stderr
    error = snap.outcome(url)["error"]
    assert error.startswith(f"TLS certificate rejected by {bad.host}: ")
    assert bad.message.lower().replace("-", " ") in error.lower().replace("-", " ")
    [group] = snap.groups
    assert (group.request, group.response) == (None, None)
    assert group.meta["error"] == error
    for warc in snap.warcs:
        assert_peer_checks(warc)
    assert_case_verifies(snap)


def test_insecure_skip_tls_verify_is_recorded(test_ca: TestCA, tmp_path: Path) -> None:
    with LocalServer(tls=test_ca, leaf=test_ca.issue(expired=True)) as server:
        url = server.url("/page.html")
        snap = snapshot(tmp_path, "--insecure-skip-tls-verify", url)
    assert snap.proc.returncode == 0, snap.proc.stdout + snap.proc.stderr
    [group] = snap.groups
    assert group.response is not None and group.response.block == RESPONSES["/page.html"]
    assert group.meta["tls"]["verified"] is False
    assert "--insecure-skip-tls-verify" in group.meta["tls"]["trustStore"]
    assert "--insecure-skip-tls-verify" in group.meta["tlsVerification"]
    for warc in snap.warcs:
        assert_peer_checks(warc)
    assert_case_verifies(snap)


# -- limits hold however the bytes arrive ---------------------------------------------------------


def test_max_body_counts_bytes_as_sent(http_server: LocalServer, tmp_path: Path) -> None:
    """The limit applies to the bytes after the header block, chunk framing included, even
    when head and body arrive in one read."""
    body = big_body(5000)
    one_write = response(b"200 OK", [(b"Content-Type", b"application/octet-stream")], body)
    framed = chunked([body[:3000], body[3000:]])
    in_chunks = response(b"200 OK", [(b"Transfer-Encoding", b"chunked")], framed, length=False)
    http_server.add_route("/one-write", one_write)
    http_server.add_route("/in-chunks", in_chunks)
    snap = snapshot(
        tmp_path,
        "--max-body",
        str(MAX_BODY),
        http_server.url("/one-write"),
        http_server.url("/in-chunks"),
    )
    assert snap.proc.returncode == 0, snap.proc.stdout + snap.proc.stderr
    for path, sent in (("/one-write", one_write), ("/in-chunks", in_chunks)):
        [group] = groups_for(snap.groups, http_server.url(path))
        assert group.response is not None
        head = sent.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
        assert group.response.block == sent[: len(head) + MAX_BODY]
        assert group.response.get("WARC-Truncated") == "length"
        assert_digests(group.response)
    [chunks] = groups_for(snap.groups, http_server.url("/in-chunks"))
    decoded = body[: MAX_BODY - len(b"bb8\r\n")]  # the kept bytes less the first chunk size line
    assert chunks.meta["decodedBodySha256"] == "sha256:" + hashlib.sha256(decoded).hexdigest()
    assert chunks.meta["decodedBodyLength"] == len(decoded)
    for warc in snap.warcs:
        assert_peer_checks(warc)


def test_timeout_bounds_a_server_that_never_answers(
    http_server: LocalServer, tmp_path: Path
) -> None:
    """No response header before --timeout (plain), or a TLS handshake that never ends."""

    def stall(ex: ServerExchange) -> None:
        ex.sleep(10)

    http_server.add_route("/stall", stall)
    with socket.socket() as mute:  # accepts TCP (the kernel's backlog), never speaks TLS
        mute.bind(("127.0.0.1", 0))
        mute.listen(4)
        tls_url = f"https://127.0.0.1:{mute.getsockname()[1]}/"
        snap = snapshot(tmp_path, "--timeout", "1", "--retries", "0", http_server.url("/stall"),
                        tls_url)
    assert snap.proc.returncode == EXIT_CAPTURE_FAILED, snap.proc.stdout + snap.proc.stderr
    assert snap.seconds < 5, "--timeout 1 did not bound the capture"
    stalled = snap.outcome(http_server.url("/stall"))
    assert stalled["error"] == "no complete response header within 1 s"
    assert snap.outcome(tls_url)["error"] == "TLS handshake with 127.0.0.1 failed: timed out"
    [group] = groups_for(snap.groups, http_server.url("/stall"))
    assert group.request is not None and group.response is None  # no empty response record
    assert group.request.block in [r.raw for r in http_server.requests if r.path == "/stall"]
    assert group.meta["error"] == stalled["error"]
    assert group.meta["truncated"] == "time"
    entries = json.loads(snap.prov("log", "show", "--json").stdout)
    [failed] = [e for e in entries if e["action"] == "capture-failed"]
    assert sorted(f["error"] for f in failed["details"]["failures"]) == sorted(
        u["error"] for u in snap.summary["urls"]
    )
    for warc in snap.warcs:
        assert_peer_checks(warc)
    assert_case_verifies(snap)
