"""provenance.custody.pending and provenance.custody.stamping: `prov timestamp` stamps the latest
checkpoint once per TSA, against a real local TSA; a TSA that does not answer is reported."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port
from tsa import LocalTSA

from provenance import api
from provenance.base import timefmt
from provenance.custody.case import Case
from provenance.custody.log import latest_checkpoint_size, token_paths
from provenance.custody.pending import complete_timestamps
from provenance.custody.stamping import Stamper
from provenance.signing.keys import SigningKey
from provenance.timestamps.rfc3161 import tsa_id

KEY = SigningKey.from_seed(bytes(range(32)), "default")


@pytest.fixture
def tsa() -> Iterator[LocalTSA]:
    server = LocalTSA().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def case(prov_home: Path, tmp_path: Path) -> Case:
    return api.init_case(tmp_path / "case", "pending", KEY, timefmt.utc_now())


def test_the_latest_checkpoint_is_stamped_once(case: Case, tsa: LocalTSA) -> None:
    size = latest_checkpoint_size(case)
    done = complete_timestamps(case, KEY, Stamper([tsa.url]), timefmt.utc_now)
    assert done == [f"checkpoint {size} stamped by {tsa.url}"]
    assert tsa_id(tsa.url) in {p.name.split(".")[1] for p in token_paths(case, size)}
    asked = len(tsa.requests)
    assert complete_timestamps(case, KEY, Stamper([tsa.url]), timefmt.utc_now) == []
    assert len(tsa.requests) == asked  # not asked again


def test_a_tsa_that_does_not_answer_is_reported(case: Case) -> None:
    url = f"http://127.0.0.1:{free_port()}/tsa"
    done = complete_timestamps(case, KEY, Stamper([url], timeout=5), timefmt.utc_now)
    size = latest_checkpoint_size(case)
    assert len(done) == 1 and done[0].startswith(f"checkpoint {size}: ")
    assert all(tsa_id(url) not in p.name for p in token_paths(case, size))


def test_nothing_to_do_without_a_tsa(case: Case) -> None:
    assert complete_timestamps(case, KEY, Stamper([]), timefmt.utc_now) == []
