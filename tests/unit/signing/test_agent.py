"""provenance.signing.agent: a real agent holds a passphrase until stopped, for its user only."""

from __future__ import annotations

import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.errors import ConfigError
from provenance.signing import agent


@pytest.fixture
def short_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A PROV_HOME short enough for a Unix socket's path."""
    with tempfile.TemporaryDirectory(prefix="ag", dir="/tmp") as folder:
        monkeypatch.setenv("PROV_HOME", folder)
        yield Path(folder)


def test_the_agent_answers_until_stopped(short_home: Path) -> None:
    assert agent.passphrase("k") is None  # no agent yet
    path = agent.start("k", b"a long passphrase\n with a newline", 60)
    try:
        assert path == short_home / "agent" / "k.sock"
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert agent.passphrase("k") == b"a long passphrase\n with a newline"
        assert agent.passphrase("other") is None
    finally:
        assert agent.stop("k") is True
    assert agent.passphrase("k") is None
    assert not path.exists()
    assert agent.stop("k") is False


def test_a_stale_socket_file_reads_as_locked(short_home: Path) -> None:
    path = agent.socket_path("k")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")  # a file left where the socket was, no agent behind it
    assert agent.passphrase("k") is None


@pytest.mark.parametrize("seconds", [0, -1, agent.MAX_SECONDS + 1])
def test_a_time_out_of_range_is_refused(short_home: Path, seconds: float) -> None:
    with pytest.raises(ConfigError, match="--for must be between"):
        agent.start("k", b"secret", seconds)


def test_a_home_too_deep_for_a_socket_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROV_HOME", str(tmp_path / ("d" * 120)))
    with pytest.raises(ConfigError, match="Unix socket"):
        agent.start("k", b"secret", 60)
