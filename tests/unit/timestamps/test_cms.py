"""provenance.timestamps.cms: the bounded DER reader under the token checks, and a real
token that does not match its data refused with TimestampError."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from asn1crypto import core
from tsa import LocalTSA

from provenance.errors import TimestampError
from provenance.timestamps.cms import _gen_time, _items, _oid, _parse
from provenance.timestamps.rfc3161 import request_stamp, verify_stamp


def test_parse_reads_one_tlv_and_stays_inside_the_buffer() -> None:
    inner = core.Integer(5).dump() + core.OctetString(b"x" * 300).dump()
    raw = b"\x30\x82" + len(inner).to_bytes(2, "big") + inner
    der = _parse(raw)
    assert (der.tag, der.raw) == (0x30, raw)
    assert [item.tag for item in _items(der)] == [0x02, 0x04]
    assert _items(der)[1].body == b"x" * 300
    for bad in (raw[:-1], raw + b"\x00", b"\x30", b"\x1f\x00", b"\x30\x85" + bytes(5)):
        with pytest.raises(ValueError):
            _parse(bad)


def test_oid_and_generalized_time() -> None:
    assert _oid(_parse(core.ObjectIdentifier("2.16.840.1.101.3.4.2.1").dump())) == (
        "2.16.840.1.101.3.4.2.1"
    )
    with pytest.raises(ValueError, match="OBJECT IDENTIFIER"):
        _oid(_parse(core.Integer(1).dump()))
    moment = datetime(2026, 1, 2, 3, 4, 5, 678900, tzinfo=UTC)
    assert _gen_time(_parse(b"\x18\x14" + b"20260102030405.6789Z")) == moment
    for text in (b"20260102030405", b"202601020304Z", b"2026010203040x.1Z"):
        with pytest.raises(ValueError, match="not a UTC GeneralizedTime"):
            _gen_time(_parse(b"\x18" + bytes([len(text)]) + text))


def test_a_real_token_for_other_data_is_refused() -> None:
    with LocalTSA() as tsa:
        stamp = request_stamp(b"the data", tsa.url, timeout=5)
    with pytest.raises(TimestampError):
        verify_stamp(stamp.response_der, b"other data", roots=[tsa.root_cert])
    assert verify_stamp(stamp.response_der, b"the data", roots=[tsa.root_cert]).gen_time
