"""Fuzzing the parsers that read hostile bytes: the WARC readers (the streaming reader, the
range scanner in both modes, the foreign-WARC verifier), DSSE envelopes, custody entries,
checkpoints and time-stamp tokens. Inputs are random bytes and valid samples (the golden case,
a real token) with bytes flipped, cut, repeated or inserted. Every outcome must be a result or
a ``ProvError`` (a finding, or an error a human can act on), never another exception.
"""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.errors import ProvError
from archive.warc.recordcheck import iter_checks
from archive.warc.scan import scan_range
from provenance.custody.checkpoint import parse_checkpoint, read_unverified, split_note
from provenance.signing.dsse import parse_envelope
from provenance.signing.statements import CaptureSeal, Entry
from provenance.timestamps.rfc3161 import request_stamp, verify_stamp

GOLDEN = Path(__file__).parents[1] / "data" / "golden" / "case"
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def golden(pattern: str) -> bytes:
    return next(GOLDEN.glob(pattern)).read_bytes()


WARC_GZ = golden("captures/*/*/*/*/data-*.warc.gz")
WARC = gzip.decompress(WARC_GZ)
SEAL = golden("captures/*/*/*/*/seal.dsse.json")
LOG_LINE = golden("custody/log.jsonl").split(b"\n")[1]
CHECKPOINT = golden("custody/checkpoints/*/*2.checkpoint")


@st.composite
def mutated(draw: st.DrawFn, sample: bytes) -> bytes:
    """``sample`` with a few edits: flips, cuts, duplicated or inserted runs."""
    data = bytearray(sample)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        edit = draw(st.sampled_from(["flip", "cut", "truncate", "repeat", "insert"]))
        if edit == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif edit == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif edit == "truncate":
            del data[at:]
        elif edit == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 512))]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
    return bytes(data)


def inputs(sample: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=2048), mutated(sample))


def regzipped(data: bytes) -> bytes:
    """Uncompressed records re-cut into gzip members at their record starts."""
    parts = data.split(b"WARC/1.1\r\n")
    return b"".join(gzip.compress((b"WARC/1.1\r\n" if i else b"") + p, mtime=0)
                    for i, p in enumerate(parts) if p or i)


def warc_inputs() -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=2048), mutated(WARC_GZ), mutated(WARC),
                     mutated(WARC).map(regzipped))


@pytest.fixture
def warc_path(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "fuzz.warc.gz"


@SETTINGS
@given(data=warc_inputs())
def test_warc_readers(warc_path: Path, data: bytes) -> None:
    warc_path.write_bytes(data)
    with open(warc_path, "rb") as fh:
        try:
            _hashing, checks = iter_checks(fh)
            for _ in checks:
                pass
        except ProvError:
            pass
    for mode in ("leaf", "full", "judge"):
        result = scan_range(warc_path, 0, len(data), mode)  # errors come back as results
        assert result.error is not None or result.end == len(data)


@SETTINGS
@given(data=warc_inputs())
def test_warc_verifier(warc_path: Path, data: bytes) -> None:
    from provenance.verification.warcs import verify_warcs

    warc_path.write_bytes(data)
    try:
        report = verify_warcs([warc_path], jobs=1)
    except ProvError:
        return
    assert report.exit_code in (0, 3)


@SETTINGS
@given(data=st.one_of(inputs(SEAL), inputs(LOG_LINE)))
def test_envelope_and_statement_parsers(data: bytes) -> None:
    try:
        envelope = parse_envelope(data, what="fuzz")
    except ProvError:
        return
    for parse in (CaptureSeal.parse, Entry.parse):
        with contextlib.suppress(ProvError):
            parse(envelope.payload, what="fuzz")


@SETTINGS
@given(payload=st.one_of(inputs(parse_envelope(SEAL, what="s").payload),
                         inputs(parse_envelope(LOG_LINE, what="l").payload)))
def test_statement_parsers_on_payloads(payload: bytes) -> None:
    for parse in (CaptureSeal.parse, Entry.parse):
        with contextlib.suppress(ProvError):
            parse(payload, what="fuzz")


@SETTINGS
@given(data=inputs(CHECKPOINT))
def test_checkpoint_parsers(data: bytes) -> None:
    for parse in (read_unverified, split_note, parse_checkpoint):
        with contextlib.suppress(ProvError):
            parse(data, what="fuzz")


@pytest.fixture(scope="module")
def token() -> tuple[bytes, list[object]]:
    from tsa import LocalTSA

    with LocalTSA() as tsa:
        stamp = request_stamp(b"fuzzed data", tsa.url)
        return stamp.response_der, [tsa.root_cert]


@SETTINGS
@given(data=st.data())
def test_token_parser(token: tuple[bytes, list[object]], data: st.DataObject) -> None:
    der, roots = token
    blob = data.draw(inputs(der))
    with contextlib.suppress(ProvError):
        verify_stamp(blob, b"fuzzed data", roots=roots)  # type: ignore[arg-type]
