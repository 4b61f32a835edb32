"""RFC 3161 time-stamping against a real local TSA (tests/support/tsa.py), EC and RSA."""

from __future__ import annotations

import datetime
import hashlib
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import rfc3161_client
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st
from tsa import LocalTSA, TsaFactory, expired_after_gen_time, expired_before_gen_time

from archive.errors import ConfigError, ExitCode
from provenance.errors import FutureTokenError, TimestampError, TsaUnavailable, UntrustedRootError
from provenance.timestamps.rfc3161 import (
    FUTURE_TOLERANCE,
    MAX_RESPONSE_BYTES,
    Stamp,
    TokenCheck,
    fingerprint,
    load_certs,
    request_stamp,
    tsa_id,
    verify_stamp,
)
from provenance.timestamps.tsatrust import TsaRoots

DATA = b"the exact bytes of a seal envelope"
NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)
KEYS = pytest.mark.parametrize("key", ["ec", "rsa"])


@pytest.fixture
def tsa_factory() -> Iterator[TsaFactory]:
    with TsaFactory() as factory:
        yield factory


@pytest.fixture(scope="module")
def honest() -> Iterator[tuple[LocalTSA, Stamp]]:
    """One honest EC TSA and a stamp from it, shared by the read-only tests."""
    with LocalTSA(key="ec") as tsa:
        yield tsa, request_stamp(DATA, tsa.url)


def fetch(tsa: LocalTSA, data: bytes = DATA) -> tuple[bytes, int]:
    """A raw TimeStampResp and its request's nonce, bypassing request_stamp's checks."""
    req = (
        rfc3161_client.TimestampRequestBuilder()
        .data(data)
        .hash_algorithm(rfc3161_client.HashAlgorithm.SHA256)
        .build()
    )
    headers = {"Content-Type": "application/timestamp-query"}
    http_request = urllib.request.Request(tsa.url, req.as_bytes(), headers)
    with urllib.request.urlopen(http_request, timeout=10) as reply:
        body: bytes = reply.read()
    assert req.nonce is not None
    return body, req.nonce


def verify(
    tsa: LocalTSA, response: bytes, data: bytes = DATA, nonce: int | None = None
) -> TokenCheck:
    """verify_stamp as an auditor would call it: the TSA's root trusted, its chain at hand."""
    untrusted = [i.cert for i in tsa.intermediates]
    return verify_stamp(response, data, roots=[tsa.root_cert], untrusted=untrusted, nonce=nonce)


# -- the happy path -----------------------------------------------------------------------------


@KEYS
@pytest.mark.parametrize("intermediate", [False, True])
def test_round_trip(tsa_factory: TsaFactory, key: str, intermediate: bool) -> None:
    tsa = tsa_factory(key=key, intermediate=intermediate)
    stamp = request_stamp(DATA, tsa.url, timeout=5)

    assert stamp.tsa_url == tsa.url
    assert stamp.gen_time.utcoffset() == datetime.timedelta(0)
    assert abs(stamp.clock_offset_seconds) < 5
    sent = tsp.TimeStampReq.load(tsa.requests[-1]).native
    assert sent["cert_req"] is True and sent["nonce"] == stamp.nonce and 0 < stamp.nonce < 2**64
    assert sent["message_imprint"]["hash_algorithm"]["algorithm"] == "sha256"
    assert sent["message_imprint"]["hashed_message"] == hashlib.sha256(DATA).digest()
    assert stamp.chain_der[0] == tsa.tsa_cert.public_bytes(serialization.Encoding.DER)

    check = verify(tsa, stamp.response_der, nonce=stamp.nonce)
    assert check.gen_time == stamp.gen_time
    assert check.tsa_name == tsa.tsa_cert.subject.rfc4514_string()
    assert check.root_fingerprint == tsa.root_fingerprint
    assert check.trusted is True
    assert check.serial == 1


def test_chain_embedded_in_token_is_used_and_ordered_leaf_first(tsa_factory: TsaFactory) -> None:
    tsa = tsa_factory(key="ec", intermediate=True, embed_chain=True)
    stamp = request_stamp(DATA, tsa.url)
    names = [x509.load_der_x509_certificate(c).subject for c in stamp.chain_der]
    assert names == [tsa.tsa_cert.subject, tsa.intermediates[0].cert.subject]
    check = verify_stamp(stamp.response_der, DATA, roots=[tsa.root_cert])  # no untrusted needed
    assert check.root_fingerprint == tsa.root_fingerprint


def test_gen_time_keeps_fractional_seconds_and_clock_offset_uses_now(
    tsa_factory: TsaFactory,
) -> None:
    gen_time = datetime.datetime(2030, 5, 6, 7, 8, 9, 123450, tzinfo=datetime.UTC)
    tsa = tsa_factory(gen_time=gen_time, cert_not_after=gen_time + DAY)
    stamp = request_stamp(DATA, tsa.url, now=lambda: gen_time + datetime.timedelta(seconds=2.5))
    assert stamp.gen_time == gen_time
    assert stamp.clock_offset_seconds == 2.5


def test_tsa_id() -> None:
    url = "https://freetsa.org/tsr"
    assert tsa_id(url) == hashlib.sha256(url.encode()).hexdigest()[:16]
    assert len(tsa_id(url)) == 16 and tsa_id(url) != tsa_id(url + "/")


def test_error_classes_carry_exit_codes() -> None:
    assert TimestampError("x").exit_code == ExitCode.INTEGRITY
    assert TsaUnavailable("x").exit_code == ExitCode.CAPTURE_FAILED


# -- a hostile or broken TSA --------------------------------------------------------------------

BAD_TOKENS = [
    pytest.param({"wrong_imprint": True}, "message imprint: expected sha256:", id="wrong-imprint"),
    pytest.param({"wrong_nonce": True}, "nonce: expected", id="wrong-nonce"),
    pytest.param({"omit_nonce": True}, "found None", id="no-nonce"),
    pytest.param({"eku": "non-critical"}, "expected a critical extendedKeyUsage", id="eku-noncrit"),
    pytest.param({"eku": "missing"}, "expected extendedKeyUsage, found none", id="eku-missing"),
    pytest.param({"eku": "extra-purpose"}, "timeStamping only, found", id="eku-extra"),
    pytest.param({"bad_signature": True}, "CMS signature: does not verify", id="bad-signature"),
    pytest.param({"omit_certs": True}, "TSA certificate: expected one with", id="no-cert"),
    pytest.param(expired_before_gen_time(), "expected valid at genTime", id="expired-before"),
    pytest.param(
        {"cert_not_before": NOW - 10 * DAY, "gen_time": NOW - 20 * DAY},
        "expected valid at genTime",
        id="not-yet-valid-at-gentime",
    ),
]


@KEYS
@pytest.mark.parametrize(("behaviour", "message"), BAD_TOKENS)
def test_request_refuses_bad_token(
    tsa_factory: TsaFactory, key: str, behaviour: dict[str, object], message: str
) -> None:
    tsa = tsa_factory(key=key, **behaviour)
    with pytest.raises(TimestampError) as caught:
        request_stamp(DATA, tsa.url)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@KEYS
@pytest.mark.parametrize(("behaviour", "message"), BAD_TOKENS)
def test_verify_refuses_bad_token(
    tsa_factory: TsaFactory, key: str, behaviour: dict[str, object], message: str
) -> None:
    tsa = tsa_factory(key=key, **behaviour)
    response, nonce = fetch(tsa)
    with pytest.raises(TimestampError) as caught:
        verify(tsa, response, nonce=nonce)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        pytest.param({"http_status": 500}, "expected HTTP 200, found 500", id="http-500"),
        pytest.param(
            {"garbage": True}, "expected a DER TimeStampResp, found unparseable bytes", id="garbage"
        ),
        pytest.param(
            {"pki_status": 2}, "status 2 (rejection): refused by the test TSA", id="rejected"
        ),
    ],
)
def test_request_reports_unavailable_tsa(
    tsa_factory: TsaFactory, behaviour: dict[str, object], message: str
) -> None:
    tsa = tsa_factory(**behaviour)
    with pytest.raises(TsaUnavailable) as caught:
        request_stamp(DATA, tsa.url)
    assert message in str(caught.value) and tsa.url in str(caught.value)


def test_request_timeout_is_honoured(tsa_factory: TsaFactory) -> None:
    tsa = tsa_factory(delay=30)
    started = time.monotonic()
    with pytest.raises(TsaUnavailable, match="no answer within 1 s"):
        request_stamp(DATA, tsa.url, timeout=1)
    assert time.monotonic() - started < 3


def test_request_reports_refused_connection(tsa_factory: TsaFactory) -> None:
    tsa = tsa_factory()
    url = tsa.url
    tsa.stop()
    with pytest.raises(TsaUnavailable, match="unreachable"):
        request_stamp(DATA, url, timeout=2)


def test_request_refuses_non_http_url() -> None:
    with pytest.raises(ConfigError, match="expected an http"):
        request_stamp(DATA, "file:///etc/passwd")


def test_verify_refuses_rejection_status(tsa_factory: TsaFactory) -> None:
    tsa = tsa_factory(pki_status=2)
    response, _ = fetch(tsa)
    with pytest.raises(TimestampError, match=r"expected granted, found status 2 \(rejection\)"):
        verify(tsa, response)


# -- tokens that do not belong, roots that are not trusted ------------------------------------


def test_genuine_token_for_other_data_is_refused(honest: tuple[LocalTSA, Stamp]) -> None:
    tsa, _ = honest
    other = request_stamp(b"some other document", tsa.url)
    expected = hashlib.sha256(DATA).hexdigest()
    with pytest.raises(TimestampError, match=f"message imprint: expected sha256:{expected}"):
        verify(tsa, other.response_der)


def test_nonce_is_checked_when_given(honest: tuple[LocalTSA, Stamp]) -> None:
    tsa, stamp = honest
    with pytest.raises(TimestampError, match=f"nonce: expected {stamp.nonce + 1}, found"):
        verify(tsa, stamp.response_der, nonce=stamp.nonce + 1)


@KEYS
def test_untrusted_root_is_named_by_fingerprint(tsa_factory: TsaFactory, key: str) -> None:
    tsa, stranger = tsa_factory(key=key), tsa_factory(key=key)
    stamp = request_stamp(DATA, tsa.url)
    with pytest.raises(UntrustedRootError) as caught:
        verify_stamp(
            stamp.response_der, DATA, roots=[stranger.root_cert], untrusted=[tsa.root_cert]
        )
    assert f"untrusted root {tsa.root_fingerprint}" in str(caught.value)
    assert caught.value.root_fingerprint == tsa.root_fingerprint
    assert caught.value.exit_code == ExitCode.INTEGRITY


def test_untrusted_root_can_be_reported_instead_of_raised(honest: tuple[LocalTSA, Stamp]) -> None:
    tsa, stamp = honest
    check = verify_stamp(
        stamp.response_der, DATA, roots=[], untrusted=[tsa.root_cert], require_trusted=False
    )
    assert check.trusted is False and check.root_fingerprint == tsa.root_fingerprint


def test_missing_issuer_is_named(tsa_factory: TsaFactory) -> None:
    tsa, stranger = tsa_factory(intermediate=True), tsa_factory()
    stamp = request_stamp(DATA, tsa.url)
    with pytest.raises(TimestampError, match="found no issuer CN=prov test TSA intermediate"):
        verify_stamp(stamp.response_der, DATA, roots=[stranger.root_cert])


def test_untrusted_certificates_cannot_become_roots(honest: tuple[LocalTSA, Stamp]) -> None:
    tsa, stamp = honest
    with pytest.raises(UntrustedRootError):
        verify_stamp(stamp.response_der, DATA, roots=[], untrusted=[tsa.root_cert])


# -- validity at genTime, not now ---------------------------------------------------------------


@KEYS
def test_certificate_expired_after_gen_time_is_fine(tsa_factory: TsaFactory, key: str) -> None:
    tsa = tsa_factory(key=key, **expired_after_gen_time())
    stamp = request_stamp(DATA, tsa.url)
    assert stamp.clock_offset_seconds > 19 * 86400
    check = verify(tsa, stamp.response_der)
    assert check.gen_time == stamp.gen_time


def test_intermediate_expired_before_gen_time_fails(tsa_factory: TsaFactory) -> None:
    tsa = tsa_factory(intermediate=True, gen_time=NOW + 4000 * DAY, cert_not_after=NOW + 5000 * DAY)
    response, _ = fetch(tsa)
    untrusted = [i.cert for i in tsa.intermediates]
    with pytest.raises(TimestampError, match=r"TSA certificate chain at genTime .*not valid"):
        verify_stamp(response, DATA, roots=[tsa.root_cert], untrusted=untrusted,
                     now=lambda: NOW + 4001 * DAY)  # a verifier living in 2037


def test_token_dated_after_the_moment_of_verification_fails(tsa_factory: TsaFactory) -> None:
    tsa = tsa_factory(gen_time=NOW + DAY)
    response, _ = fetch(tsa)
    for roots in ([tsa.root_cert], []):  # whatever its root: no true token can be
        with pytest.raises(FutureTokenError, match=r"genTime .* is after the moment of verif"):
            verify_stamp(response, DATA, roots=roots, require_trusted=False)
    check = verify_stamp(response, DATA, roots=[tsa.root_cert], now=lambda: NOW + 2 * DAY)
    assert check.gen_time == NOW + DAY
    # within the tolerance a clock a little behind the TSA's is no failure
    check = verify_stamp(response, DATA, roots=[tsa.root_cert],
                         now=lambda: NOW + DAY - FUTURE_TOLERANCE + datetime.timedelta(seconds=1))
    assert check.trusted
    with pytest.raises(FutureTokenError):
        verify_stamp(response, DATA, roots=[tsa.root_cert],
                     now=lambda: NOW + DAY - FUTURE_TOLERANCE - datetime.timedelta(seconds=1))


# -- tampering and garbage ----------------------------------------------------------------------


def _bump_gen_time_digit(der: bytes) -> bytes:
    at = der.index(b"\x18", der.index(bytes.fromhex("2b0601040183bf30")))  # genTime after policy
    last = at + 2 + der[at + 1] - 2  # the digit before "Z"
    digit = der[last] - 0x30
    return der[:last] + bytes([0x30 + digit % 9 + 1]) + der[last + 1 :]


Mutation = Callable[[bytes], bytes]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(lambda d: d[:-1], "unparseable", id="truncate"),
        pytest.param(lambda d: d + b"\x00", "unparseable", id="append"),
        pytest.param(lambda d: d[:-1] + bytes([d[-1] ^ 1]), "CMS signature", id="flip-signature"),
        pytest.param(lambda d: b"", "unparseable", id="empty"),
        pytest.param(lambda d: b"\x30\x03\x02\x01\x00", "unparseable", id="tiny"),
    ],
)
def test_tampered_token_fails(
    honest: tuple[LocalTSA, Stamp], mutate: Mutation, message: str
) -> None:
    tsa, stamp = honest
    with pytest.raises(TimestampError, match=message):
        verify(tsa, mutate(stamp.response_der))


def test_certificate_may_come_from_untrusted_instead_of_token(tsa_factory: TsaFactory) -> None:
    tsa = tsa_factory(omit_certs=True)
    response, _ = fetch(tsa)
    untrusted = [tsa.tsa_cert]
    check = verify_stamp(response, DATA, roots=[tsa.root_cert], untrusted=untrusted)
    assert check.tsa_name == tsa.tsa_cert.subject.rfc4514_string()


def test_changed_gen_time_breaks_message_digest(tsa_factory: TsaFactory) -> None:
    tsa = tsa_factory(
        gen_time=NOW.replace(microsecond=0)
    )  # seconds end the time: any digit is valid
    response, _ = fetch(tsa)
    with pytest.raises(TimestampError, match="signed messageDigest: expected sha256:"):
        verify(tsa, _bump_gen_time_digit(response))


def test_oversized_response_is_refused(honest: tuple[LocalTSA, Stamp]) -> None:
    tsa, _ = honest
    with pytest.raises(TimestampError, match=f"at most {MAX_RESPONSE_BYTES} bytes"):
        verify(tsa, b"\x30" * (MAX_RESPONSE_BYTES + 1))


@settings(max_examples=200, deadline=None)
@given(junk=st.binary(max_size=600))
def test_garbage_only_ever_raises_timestamp_error(
    honest: tuple[LocalTSA, Stamp], junk: bytes
) -> None:
    tsa, _ = honest
    with pytest.raises(TimestampError):
        verify(tsa, junk)


@pytest.mark.filterwarnings("ignore:Parsed a serial number")  # a mutated certificate serial
@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0), value=st.integers(min_value=1, max_value=255))
def test_one_byte_change_never_yields_a_different_answer(
    honest: tuple[LocalTSA, Stamp], position: int, value: int
) -> None:
    """CMS leaves some fields unsigned (versions, the digestAlgorithms set): a change there may
    still verify, but must never change what the token says; anything else must fail cleanly."""
    tsa, stamp = honest
    der = bytearray(stamp.response_der)
    der[position % len(der)] ^= value
    try:
        check = verify(tsa, bytes(der))
    except TimestampError:
        return
    assert check == verify(tsa, stamp.response_der)


# -- trust stores -------------------------------------------------------------------------------


def test_tsa_roots_come_from_named_files_and_the_users_store(
    honest: tuple[LocalTSA, Stamp], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tsa, _ = honest
    monkeypatch.setenv("PROV_HOME", str(tmp_path / "home"))
    store = tmp_path / "home" / "tsa-roots"
    store.mkdir(parents=True)
    (store / "a.pem").write_bytes(tsa.root_pem)
    (store / "ignored.txt").write_text("not a certificate")
    (tmp_path / "chain.pem").write_bytes(tsa.chain_pem + tsa.root_pem)
    roots = TsaRoots.collect([tmp_path / "chain.pem"], target=tmp_path / "case").roots
    assert list(roots[:3]) == [tsa.tsa_cert, tsa.root_cert, tsa.root_cert]
    assert all(fingerprint(c) != tsa.root_fingerprint for c in roots[3:])  # the pins


def test_load_certs_refuses_non_pem(tmp_path: Path) -> None:
    (tmp_path / "bad.pem").write_text("hello")
    with pytest.raises(ConfigError, match=r"bad\.pem: expected a PEM certificate bundle"):
        load_certs(tmp_path / "bad.pem")
    with pytest.raises(ConfigError, match=r"missing\.pem"):
        load_certs(tmp_path / "missing.pem")


# -- an independent verifier agrees -------------------------------------------------------------


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
@pytest.mark.parametrize("kind", ["ec", "rsa", "rsa-intermediate", "expired-after-gentime"])
def test_openssl_ts_verify_accepts_our_token(
    tsa_factory: TsaFactory, tmp_path: Path, kind: str
) -> None:
    if kind == "expired-after-gentime":
        tsa = tsa_factory(key="ec", **expired_after_gen_time())
    else:
        tsa = tsa_factory(key=kind.split("-")[0], intermediate=kind.endswith("intermediate"))
    stamp = request_stamp(DATA, tsa.url)
    (tmp_path / "data").write_bytes(DATA)
    (tmp_path / "token.tsr").write_bytes(stamp.response_der)
    (tmp_path / "root.pem").write_bytes(tsa.root_pem)
    (tmp_path / "chain.pem").write_bytes(tsa.chain_pem)
    result = subprocess.run(
        ["openssl", "ts", "-verify", "-data", "data", "-in", "token.tsr", "-CAfile", "root.pem",
         "-untrusted", "chain.pem", "-attime", str(int(stamp.gen_time.timestamp()))],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Verification: OK" in result.stdout
