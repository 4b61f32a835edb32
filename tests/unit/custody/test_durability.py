"""Durability of the custody log: concurrent writers, and writers killed mid-append.

Two processes appending under the case lock must interleave whole appends (unique,
contiguous seq numbers, a log that verifies). A writer killed with SIGKILL at any moment must
leave a case that verify reads as incomplete, never as tampered; ``api.repair`` completes it
and never drops a line that was written whole.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provenance import api
from provenance.base import timefmt
from provenance.base.report import Report
from provenance.custody.case import Case
from provenance.custody.logfile import iter_lines
from provenance.signing.dsse import parse_envelope, sign_envelope
from provenance.signing.keys import SigningKey
from provenance.signing.statements import CUSTODY_PAYLOAD, Entry, Prev

SEED = bytes(range(32))

# A writer: appends `bursts` bursts (-1: until killed) of `size` note entries, each burst one
# command's worth (case lock, append, checkpoint). It says "ready" once imported and waits for
# a line on stdin, so that the parent can start several at the same instant.
WRITER = """
import sys
from pathlib import Path
from provenance.base import timefmt
from provenance.custody.case import Case
from provenance.custody.log import CustodyLog, NewEntry
from provenance.signing.keys import SigningKey

root, seed, tag, bursts, size, pad = sys.argv[1:]
case = Case.open(Path(root))
key = SigningKey.from_seed(bytes.fromhex(seed), "writer")
print("ready", flush=True)
sys.stdin.readline()
n = 0
while int(bursts) < 0 or n < int(bursts):
    entries = [NewEntry("note", (), {"note": f"{tag} {n}.{i}", "pad": "x" * int(pad)})
               for i in range(int(size))]
    with case.lock():
        CustodyLog(case).append(entries, key, timefmt.utc_now())
    n += 1
"""

# What a crash may leave and verify must call incomplete (warn), never tampered (fail).
CRASH_WARNINGS = {"log.tail", "log.unchecked", "checkpoint.tmp"}


@pytest.fixture
def case(prov_home: Path, tmp_path: Path) -> Case:
    key = SigningKey.from_seed(SEED, "writer")
    return api.init_case(tmp_path / "case", "durability", key, timefmt.utc_now())


def start_writer(case: Case, tag: str, bursts: int, size: int,
                 pad: int = 0) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(case.root), SEED.hex(), tag, str(bursts), str(size),
         str(pad)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def go(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()


def verify(case: Case) -> Report:
    key = SigningKey.from_seed(SEED, "writer")
    return api.verify(case.root, trust_ids=[key.key_id], remember=False)


def statuses(report: Report, status: str) -> list[str]:
    return [f"{f.check} {f.subject}: {f.message}" for f in report.findings if f.status == status]


def entries(case: Case) -> list[Entry]:
    return [Entry.parse(parse_envelope(line, what="line").payload, what="entry")
            for line in iter_lines(case.log_path)]


def whole_lines(case: Case) -> list[bytes]:
    """The newline-terminated lines of the log, a torn tail left out."""
    data = case.log_path.read_bytes()
    return data[: data.rfind(b"\n") + 1].splitlines()


def test_two_processes_appending_at_once_interleave_whole_entries(case: Case) -> None:
    writers = [start_writer(case, tag, bursts=50, size=1) for tag in ("a", "b")]
    for proc in writers:
        go(proc)
    for proc in writers:
        assert proc.wait(timeout=60) == 0

    logged = entries(case)
    assert len(logged) == 1 + 100
    assert [e.seq for e in logged] == list(range(101))
    notes = [str(e.details["note"]) for e in logged[1:]]
    for tag in ("a", "b"):
        assert sorted(n for n in notes if n.startswith(tag)) == sorted(
            f"{tag} {n}.0" for n in range(50))
    report = verify(case)
    assert statuses(report, "fail") == []
    assert not {f.check for f in report.findings if f.status == "warn"} & CRASH_WARNINGS


def test_a_waiting_writer_is_not_starved_by_a_busy_one(case: Case) -> None:
    writers = [start_writer(case, tag, bursts=50, size=1) for tag in ("a", "b")]
    for proc in writers:
        go(proc)
    for proc in writers:
        assert proc.wait(timeout=60) == 0
    order = [str(e.details["note"])[0] for e in entries(case)[1:]]
    switches = sum(1 for x, y in itertools.pairwise(order) if x != y)
    assert switches > 1, "one writer waited for all 50 appends of the other: " + "".join(order)


def torn_fragment(rng: random.Random) -> bytes:
    """The first bytes of one more entry line, as a write cut short leaves them."""
    key = SigningKey.from_seed(SEED, "writer")
    entry = Entry(seq=10**6, time=timefmt.format_time(timefmt.utc_now()), actor=key.key_id,
                  action="note", subjects=(), prev=Prev(0, bytes(32)), details={"note": "torn"})
    line = sign_envelope(CUSTODY_PAYLOAD, entry.payload(), key)
    return line[: rng.randrange(1, len(line))]


def test_sigkill_at_random_points_of_appends_never_reads_as_tampered(case: Case) -> None:
    rng = random.Random(int(os.environ.get("PROV_DURABILITY_SEED", "20261123")))
    outcomes: dict[str, int] = {}
    for trial in range(30):
        # Big entries now and then widen the window in which a kill lands inside write().
        pad = rng.choice([0, 0, 20_000])
        proc = start_writer(case, f"t{trial}", bursts=-1, size=rng.randint(1, 8), pad=pad)
        go(proc)
        time.sleep(rng.uniform(0, 0.050))
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
        if trial % 5 == 4:
            # A SIGKILL rarely lands inside write() (the kernel copies pages in
            # microseconds); what a cut-short write leaves is appended here instead.
            with open(case.log_path, "ab") as fh:
                fh.write(torn_fragment(rng))

        report = verify(case)
        assert statuses(report, "fail") == [], f"trial {trial}"
        left = sorted({f.check for f in report.findings if f.status == "warn"} & CRASH_WARNINGS)
        torn = "log.tail" in left
        before = whole_lines(case)
        done = api.repair(case, SigningKey.from_seed(SEED, "writer"), timefmt.utc_now)

        after = whole_lines(case)
        assert after[: len(before)] == before, f"trial {trial}: a whole line was lost"
        assert len(after) == len(before) + (1 if torn else 0)
        if torn:
            repair = entries(case)[-1]
            assert repair.action == "repair"
            assert repair.details["reason"] == "torn last line"
            kept = (case.root / str(repair.details["quarantined"])).read_bytes()
            assert hashlib.sha256(kept).hexdigest() == repair.details["sha256"]
            assert any("quarantined a torn log tail" in line for line in done)
        report = verify(case)
        assert statuses(report, "fail") == [], f"trial {trial} after repair"
        assert not {f.check for f in report.findings if f.status == "warn"} & CRASH_WARNINGS
        state = "+".join(left) or "clean"
        outcomes[state] = outcomes.get(state, 0) + 1
    print(json.dumps(outcomes))  # what the kills left, by the warnings verify gave (pytest -s)
    assert sum(n for state, n in outcomes.items() if "log.tail" in state) >= 6
