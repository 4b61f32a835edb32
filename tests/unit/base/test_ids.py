"""provenance.base.ids: UUIDv7 capture ids (RFC 9562, 5.7)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from provenance.base.ids import is_capture_dir, uuid7

MOMENT = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
DAY = "captures/2026/01/02/"


def test_uuid7_carries_the_milliseconds_version_and_variant() -> None:
    text = uuid7(MOMENT, rand=b"\xff" * 10)
    value = uuid.UUID(text)
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert int.from_bytes(value.bytes[:6], "big") == int(MOMENT.timestamp() * 1000)
    assert is_capture_dir(DAY + text)


def test_uuid7_is_fixed_by_its_inputs_and_random_without_them() -> None:
    assert uuid7(MOMENT, rand=bytes(10)) == uuid7(MOMENT, rand=bytes(10))
    assert uuid7(MOMENT) != uuid7(MOMENT)
    assert uuid7(MOMENT) < uuid7(datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC))


def test_a_capture_folder_refuses_other_versions_and_shapes_of_id() -> None:
    good = uuid7(MOMENT, rand=bytes(10))
    assert not is_capture_dir(DAY + str(uuid.uuid4()))
    assert not is_capture_dir(DAY + good.upper())
    assert not is_capture_dir(DAY + good + "\n")
    assert not is_capture_dir(DAY + "../" + good[3:])
    assert not is_capture_dir(DAY)


def test_is_capture_dir_takes_only_the_folders_prov_writes() -> None:
    good = uuid7(datetime(2026, 1, 2, tzinfo=UTC))
    assert is_capture_dir(f"captures/2026/01/02/{good}")
    assert not is_capture_dir(f"captures/2026/1/02/{good}")
    assert not is_capture_dir(f"captures/\u0662\u0660\u0662\u0666/01/02/{good}")  # Arabic digits
    assert not is_capture_dir(f"captures/2026/01/02/{uuid.uuid4()}")
    assert not is_capture_dir(f"captures/2026/01/02/{good}/x")
    assert not is_capture_dir(f"captures/2026/01/02/{good}\n")
    assert not is_capture_dir(f"/captures/2026/01/02/{good}")
