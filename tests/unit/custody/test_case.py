"""provenance.custody.case: the case folder's layout as read back (capture folders)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from provenance.base.ids import uuid7
from provenance.custody.case import iter_capture_dirs


def test_iter_capture_dirs_names_each_folder_and_whether_prov_wrote_its_form(
        tmp_path: Path) -> None:
    good = uuid7(datetime(2026, 1, 2, tzinfo=UTC))
    for rel in (f"captures/2026/01/02/{good}", "captures/2026/01/02/planted",
                f"captures/26/01/02/{good}", f"captures/.partial/x/y/{good}"):
        (tmp_path / rel).mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere" / "2026" / "01" / "03" / good
    elsewhere.mkdir(parents=True)
    os.symlink(tmp_path / "elsewhere" / "2026", tmp_path / "captures" / "2027")
    assert list(iter_capture_dirs(tmp_path)) == [
        (f"captures/2026/01/02/{good}", True),
        ("captures/2026/01/02/planted", False),
        (f"captures/26/01/02/{good}", False),
    ]
    assert list(iter_capture_dirs(tmp_path / "nothing")) == []
