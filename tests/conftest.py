"""Shared fixtures: a test CA, local HTTP and HTTPS servers, and an isolated PROV_HOME.

Keep this file small; fixtures for one area belong next to that area's tests.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from exports import Built, build, environment
from servers import LocalServer
from testca import TestCA

from provenance.cli.demo import serve_site

# Hostile-input tests nest folders deeper than Python's default recursion limit (1,000) to show
# that prov's walks are iterative; pytest removes old temporary folders with shutil.rmtree,
# which recurses once per level. Raising the limit here lets that cleanup finish; prov itself,
# started in its own interpreter by every such test, keeps the default.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))


@pytest.fixture(scope="session")
def test_ca() -> TestCA:
    """A root + intermediate CA; `test_ca.leaf` covers localhost and 127.0.0.1."""
    return TestCA()


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The demo site (`provenance.cli.demo`) on 127.0.0.1, one per test module: its base URL.
    A module whose tests need a site of their own defines a `site` fixture, which wins."""
    with serve_site() as base:
        yield base


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """A case made in process once per module (`exports.build`: key "default", a capture of
    the demo site and a synthetic one holding a revisit, no TSA), its PROV_HOME in the
    environment while the module runs. A module may define its own `built`, which wins."""
    root = tmp_path_factory.mktemp("built")
    made = build(root, None)
    with environment(root):
        yield made


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    """A plain HTTP/1.1 server on 127.0.0.1 (fresh per test: routes and request log)."""
    with LocalServer() as server:
        yield server


@pytest.fixture
def https_server(test_ca: TestCA) -> Iterator[LocalServer]:
    """The same server over TLS, presenting `test_ca.leaf` and its intermediate."""
    with LocalServer(tls=test_ca) as server:
        yield server


@pytest.fixture
def prov_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty PROV_HOME for this test, with a known key passphrase in the environment."""
    home = tmp_path / "prov-home"
    home.mkdir()
    monkeypatch.setenv("PROV_HOME", str(home))
    monkeypatch.setenv("PROV_KEY_PASSPHRASE", "test-passphrase")
    monkeypatch.delenv("PROV_KEY_PASSPHRASE_FILE", raising=False)
    monkeypatch.delenv("PROV_CASE", raising=False)
    return home
