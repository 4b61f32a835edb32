"""The private-address rule (issue 14, point 9; archive/http/addresses.py): a capture never
connects to an address of this machine's own networks unless a seed resolved to it or
`--allow-private-addresses` is given; the refusal is recorded.

The "internal" host is a server on 127.0.0.2 (another loopback address), linked from a page
served on 127.0.0.1: no packet ever leaves loopback. Names under ``.test`` are resolved
inside the prov process (no DNS): ``internal.test`` to 127.0.0.2, ``rebind.test`` to
127.0.0.1 the first time and 127.0.0.2 afterwards (DNS rebinding).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import make_case, prov_env
from proxies import ConnectProxy, Socks5Proxy
from scheduling import log_entries, schedule_run, write_sources
from servers import LocalServer, redirect_response
from test_crawl import Run, html, static

from archive.http.addresses import AddressPolicy, AddressRefused, classify

INTERNAL = "127.0.0.2"
REFUSED = {"address": INTERNAL, "range": "loopback"}
PROV_MAIN_NAMES = """
import socket
_real = socket.getaddrinfo
_rebind = []
def _resolve(host, port, *args, **kwargs):
    if host == "internal.test":
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port or 0))]
    if host == "rebind.test":
        _rebind.append(1)
        address = "127.0.0.1" if len(_rebind) == 1 else "127.0.0.2"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))]
    return _real(host, port, *args, **kwargs)
socket.getaddrinfo = _resolve
from provenance.cli import main
main()
"""


# -- the rule on its own ------------------------------------------------------------------------


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.2", "loopback"), ("::1", "loopback"),
    ("169.254.169.254", "link-local"), ("fe80::1%lo", "link-local"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
    ("fd00::1", "private"), ("100.64.0.1", "shared (carrier-grade NAT)"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"), ("fec0::1", "site-local"),
    ("255.255.255.255", "reserved"), ("240.0.0.1", "reserved"),
    ("::ffff:127.0.0.1", "loopback (IPv4-mapped 127.0.0.1)"),
    ("::ffff:169.254.169.254", "link-local (IPv4-mapped 169.254.169.254)"),
    ("64:ff9b::a00:1", "private (NAT64 10.0.0.1)"),
    ("2002:a9fe:a9fe::1", "link-local (6to4 169.254.169.254)"),
    ("::7f00:1", "loopback (IPv4-compatible 127.0.0.1)"),
    ("8.8.8.8", None), ("2606:4700::1111", None), ("::ffff:8.8.8.8", None),
    ("64:ff9b::808:808", None), ("2002:808:808::1", None),
])
def test_classify(address: str, kind: str | None) -> None:
    assert classify(address) == kind


def test_policy_allows_the_seeds_own_addresses_and_everything_when_told() -> None:
    policy = AddressPolicy(seed_addresses=frozenset({"127.0.0.1"}))
    assert policy.refusal("127.0.0.1") is None
    assert policy.refusal("::ffff:127.0.0.1") is None  # the same address, mapped
    assert policy.refusal("127.0.0.2") == "loopback"
    assert policy.split(["127.0.0.2", "127.0.0.1"]) == (["127.0.0.1"],
                                                        [("127.0.0.2", "loopback")])
    assert AddressPolicy(allow_private=True).refusal("169.254.169.254") is None
    message = str(AddressRefused("internal.test", [("127.0.0.2", "loopback")]))
    assert message.startswith("refused: internal.test resolves to 127.0.0.2 is a loopback")
    assert "--allow-private-addresses" in message


# -- the crawler --------------------------------------------------------------------------------


@pytest.fixture
def internal() -> Iterator[LocalServer]:
    """The host a page must not reach: 127.0.0.2."""
    with LocalServer(bind=INTERNAL) as server:
        server.add_route("/secret.png", static(b"image/png", b"internal secret"))
        server.add_route("/admin", html("<title>admin</title><p>internal admin"))
        yield server


def hostile_page(site: LocalServer, internal: LocalServer, *, named: bool = True) -> str:
    """A page on 127.0.0.1 whose images and a link's redirect name the internal host (by
    address, and by a name resolved in prov only: nothing else may look ``.test`` up)."""
    by_name = f"<img src='http://internal.test:{internal.port}/secret.png'>" if named else ""
    site.add_route("/page.html", html(
        f"<img src='{internal.url('/secret.png')}'><a href='/go'>go</a>{by_name}"))
    site.add_route("/go", redirect_response(internal.url("/admin").encode()))
    return site.url("/page.html")


def snapshot(tmp: Path, *args: str) -> Run:
    case, key_pub = make_case(tmp)
    env = prov_env(tmp)
    proc = subprocess.run([sys.executable, "-c", PROV_MAIN_NAMES, "snapshot", "--case",
                           str(case), "--json", *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout, proc.stderr
    return Run(proc, case, key_pub, env, 0.0, json.loads(proc.stdout))


def metadata(run: Run, url: str) -> dict[str, Any]:
    [meta] = [r.json() for r in run.records
              if r.type == "metadata" and r.get("WARC-Target-URI") == url]
    return meta


def capture_entry(run: Run) -> dict[str, Any]:
    [entry] = [e for e in log_entries(run.case) if e["action"] == "capture"]
    return dict(entry["details"])


def test_a_page_cannot_make_the_crawler_fetch_an_internal_host(
        tmp_path: Path, http_server: LocalServer, internal: LocalServer) -> None:
    seed = hostile_page(http_server, internal)
    run = snapshot(tmp_path, "--requisites", "--depth", "1", "--retries", "2", seed)
    assert run.proc.returncode == 0, run.proc.stderr  # a refused requisite fails nothing
    assert internal.requests == [], "a packet reached the internal host"
    named = f"http://internal.test:{internal.port}/secret.png"
    refused = [internal.url("/secret.png"), named]
    for url in refused:
        row = run.row(url)
        assert row["refused"] is True and row["failed"] is False and row["attempts"] == 1
        assert row["error"].startswith("refused: ") and "loopback" in row["error"]
        meta = metadata(run, url)  # the refusal is sealed: one metadata record, no request
        assert meta["addressesRefused"] == [REFUSED] and meta["error"] == row["error"]
        assert not [r for r in run.records if r.type == "request"
                    and r.get("WARC-Target-URI") == url]
    assert run.row(named)["error"].startswith(f"refused: internal.test resolves to {INTERNAL}")
    # a link's redirect is followed as far as the rule allows: the 302 is kept, its target
    # refused (and recorded as such)
    go = run.row(http_server.url("/go"))
    assert go["hops"] == [http_server.url("/go"), internal.url("/admin")]
    assert go["refused"] is True and go["failed"] is False
    assert metadata(run, internal.url("/admin"))["addressesRefused"] == [REFUSED]
    entry = capture_entry(run)
    assert entry["failed"] == 0 and entry["refused"] == 3
    assert sorted(entry["refusedUrls"]) == sorted([*refused, http_server.url("/go")])
    assert "3 requests for private addresses were refused" in run.proc.stderr
    run.verify()


def test_a_seed_redirected_to_an_internal_host_fails(
        tmp_path: Path, http_server: LocalServer, internal: LocalServer) -> None:
    hostile_page(http_server, internal)
    run = snapshot(tmp_path, http_server.url("/go"))
    assert run.proc.returncode == 5
    row = run.row(http_server.url("/go"))
    assert row["refused"] is True and row["failed"] is True
    assert internal.requests == []
    assert metadata(run, internal.url("/admin"))["addressesRefused"] == [REFUSED]
    [failed] = [e for e in log_entries(run.case) if e["action"] == "capture-failed"]
    assert failed["details"]["failures"][0]["url"] == http_server.url("/go")
    run.verify()


def test_a_seed_on_a_private_address_is_captured(tmp_path: Path,
                                                 internal: LocalServer) -> None:
    run = snapshot(tmp_path, internal.url("/admin"))
    assert run.proc.returncode == 0, run.proc.stderr
    assert [r.path for r in internal.requests] == ["/admin"]
    assert run.row(internal.url("/admin"))["status"] == 200


def test_allow_private_addresses_fetches_them(
        tmp_path: Path, http_server: LocalServer, internal: LocalServer) -> None:
    seed = hostile_page(http_server, internal)
    run = snapshot(tmp_path, "--requisites", "--allow-private-addresses", seed)
    assert run.proc.returncode == 0, run.proc.stderr
    assert sorted(r.path for r in internal.requests) == ["/secret.png", "/secret.png"]
    assert run.row(internal.url("/secret.png"))["status"] == 200
    [seeds] = [r.json() for r in run.records
               if (r.get("WARC-Target-URI") or "").startswith("urn:prov:seeds:")]
    assert seeds["allowPrivateAddresses"] is True
    assert "refused" not in capture_entry(run)


def test_a_name_that_rebinds_to_an_internal_address_is_refused(
        tmp_path: Path, http_server: LocalServer, internal: LocalServer) -> None:
    # resolved once when the run starts (127.0.0.1: the seed's own), then 127.0.0.2
    seed = f"http://rebind.test:{internal.port}/admin"
    run = snapshot(tmp_path, seed)
    assert run.proc.returncode == 5
    assert internal.requests == []
    row = run.row(seed)
    assert row["refused"] is True and "rebind.test resolves to 127.0.0.2" in row["error"]
    assert metadata(run, seed)["addressesRefused"] == [REFUSED]


def test_a_proxy_is_not_asked_for_an_internal_address(
        tmp_path: Path, http_server: LocalServer, internal: LocalServer) -> None:
    # socks5:// resolves names here, so the rule sees internal.test's address too; a name
    # an http:// or socks5h:// proxy resolves is the proxy's to judge (docs/SECURITY.md),
    # and the test proxy would look .test up in the real DNS: by address only there
    for proxy_class, scheme in ((Socks5Proxy, "socks5"), (ConnectProxy, "http")):
        seed = hostile_page(http_server, internal, named=scheme == "socks5")
        with proxy_class() as proxy:
            out = tmp_path / scheme
            out.mkdir()
            run = snapshot(out, "--requisites", "--via", proxy.url(scheme=scheme), seed)
            assert run.proc.returncode == 0, run.proc.stderr
            assert proxy.targets and all(t.host != INTERNAL for t in proxy.targets)
            assert run.row(internal.url("/secret.png"))["refused"] is True
            if scheme == "socks5":
                named = f"http://internal.test:{internal.port}/secret.png"
                assert run.row(named)["refused"] is True
    assert internal.requests == []


# -- sources.toml ---------------------------------------------------------------------------


def test_schedule_sources_carry_the_rule(tmp_path: Path, http_server: LocalServer,
                                         internal: LocalServer) -> None:
    seed = hostile_page(http_server, internal, named=False)
    case, _ = make_case(tmp_path)
    env = prov_env(tmp_path)
    bad = write_sources(tmp_path, [{"url": seed, "allow_private_addresses": "yes"}],
                        name="bad.toml")
    proc = schedule_run(env, bad, case)
    assert proc.returncode == 6
    assert "allow_private_addresses must be true or false" in proc.stderr
    for allow, fetched in ((False, 0), (True, 1)):
        sources = write_sources(tmp_path, [{"url": seed, "requisites": True, "interval": "1s",
                                            "allow_private_addresses": allow}])
        proc = schedule_run(env, sources, case, "--all")  # due or not: the interval is 1 s
        assert proc.returncode == 0, proc.stderr
        assert len(internal.requests) == fetched
    refused = [e["details"].get("refused") for e in log_entries(case) if e["action"] == "capture"]
    assert refused == [1, None]
