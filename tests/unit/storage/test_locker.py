"""provenance.storage.locker: a legal hold applies only to a case in a bucket."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from exports import Built, environment

from archive.errors import UsageError
from provenance import api
from provenance.custody.case import Case
from provenance.storage.locker import legal_hold


def test_a_legal_hold_on_a_case_on_disk_is_refused(built: Built) -> None:
    with environment(built.root):
        key = api.load_key("default")
    with pytest.raises(UsageError, match="applies to a case in a bucket"):
        legal_hold(Case.open(built.case), True, key, datetime.now(UTC))
