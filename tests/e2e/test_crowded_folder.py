"""A capture folder crowded with junk (issue 14: verify on hostile input stays bounded): an
attacker adds tens of thousands of empty files beside a sealed capture. Each is a finding (the
first ``KEEP`` stored, the rest counted), and the folder is read as a stream, never held as a
list: peak memory does not grow with the number of files.

The test changes a copy of ``test_tamper``'s sealed case and runs ``prov verify`` as an auditor,
once on the clean copy and once crowded, and compares the two peaks.
"""

from __future__ import annotations

import json
from pathlib import Path

import test_tamper
from helpers import home_env, run_measured
from test_tamper import SealedCase

from provenance.base.report import KEEP

sealed = test_tamper.sealed
copy = test_tamper.copy
auditor_home = test_tamper.auditor_home
JUNK = 60_000
GROWTH = 3 << 20  # listing the folder whole cost about 100 bytes a file (6 MB here)


def test_a_folder_of_junk_files_is_reported_in_flat_memory(
    sealed: SealedCase, copy: Path, auditor_home: Path
) -> None:
    args = ("verify", str(copy), "--json", "--trust", str(sealed.public), "--no-remember")
    clean, clean_peak = run_measured(*args, env=home_env(auditor_home))
    assert clean.returncode == 0, clean.stderr
    folder = next(copy.glob("captures/**/seal.dsse.json")).parent
    for i in range(JUNK):
        (folder / f"junk-{i:06d}").touch()
    result, peak = run_measured(*args, env=home_env(auditor_home))
    assert result.returncode == 3, result.stderr
    report = json.loads(result.stdout)
    rel = folder.relative_to(copy).as_posix()
    junk = [f for f in report["findings"] if f["check"] == "capture.unexpected"]
    assert [f["subject"] for f in junk] == [f"{rel}/junk-{i:06d}" for i in range(KEEP)]
    assert {"check": "capture.unexpected", "status": "fail",
            "count": JUNK - KEEP} in report["omitted"]
    assert report["counts"]["fail"] == JUNK
    assert peak < clean_peak + GROWTH, f"{clean_peak >> 20} -> {peak >> 20} MiB"
