"""Who may add to a case's custody log, and whether the case could verify what a command is
about to add: asked before anything is written.

Spec: docs/FORMATS.md, "Custody log" and "Who may append"; the trust replay is
``provenance.entryjudge``, the judge ``prov verify`` itself uses, so a command refuses exactly
what verify would fail.

Threat: an honest mistake more than an attacker. The log is append-only: an entry signed by a
key the case does not trust (an auditor's own key given to ``prov disclose``), or one verify
cannot read, stays in the case for good and fails every later verify. So the CLI asks
``check_signer`` before a command writes anything (before the passphrase prompt, from the
key's public half), and ``CustodyLog.append``, the one place every entry passes, judges the
signed lines with ``check_lines`` before they reach the file. A refusal is a
``RefusedEntryError`` (exit 6) whose hint says how to get the key trusted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from archive.errors import ConfigError, ProvError
from provenance.base import home
from provenance.base.report import Report
from provenance.base.untrusted import b64decode
from provenance.custody.checkpoint import note_name_problem
from provenance.custody.logfile import MAX_LINE, iter_lines
from provenance.errors import LogFormatError, RefusedEntryError, UntrustedInputError
from provenance.signing.dsse import parse_envelope
from provenance.signing.entryjudge import TRUST_ACTIONS, EntryJudge
from provenance.signing.keys import PublicKey
from provenance.signing.statements import Entry

LINE_HEAD = b'{"payload":"'  # RFC 8785 orders a DSSE envelope's keys: payload first
ACTION_HEAD = b'{"action":"'  # and an entry's: action first


def _quick_action(line: bytes) -> str | None:
    """The action of a line in the canonical form prov writes, read from the first 48 bytes
    of its payload without parsing the line; None for any other line (parsed in full), so a
    line written by hand can only cost time, never be misread."""
    if not line.startswith(LINE_HEAD):
        return None
    try:
        head = b64decode(line[len(LINE_HEAD):len(LINE_HEAD) + 64], what="payload")
    except UntrustedInputError:
        return None
    end = head.find(b'"', len(ACTION_HEAD))
    value = head[len(ACTION_HEAD):end]
    if not head.startswith(ACTION_HEAD) or end < 0 or not value.isascii() or b"\\" in value:
        return None
    return value.decode("ascii")


def iter_trust_lines(log_path: Path) -> Iterator[tuple[int, bytes]]:
    """The log's lines that change whom it trusts (``TRUST_ACTIONS``), with their seq.
    About 1 µs a line for prov's own lines, which skip the JSON parser. A line that cannot
    be parsed changes no one's trust (verify fails it), so it is passed over, and a torn
    last line ends the log (``prov log repair`` cuts it)."""
    lines = iter_lines(log_path)
    seq = 0
    while True:
        try:
            line = next(lines)
        except (StopIteration, LogFormatError):
            return
        action = _quick_action(line)
        if action is None:
            what = f"entry {seq}"
            try:
                action = Entry.parse(parse_envelope(line, what=what).payload, what=what).action
            except ProvError:
                action = None
        if action in TRUST_ACTIONS:
            yield seq, line
        seq += 1


def replay(log_path: Path) -> EntryJudge:
    """The judge once the log's trust-changing entries are replayed. Its findings about the
    existing log are dropped: judging the log is verify's job, this only asks who is
    trusted now."""
    judge = EntryJudge(Report(str(log_path), "case"))
    for seq, line in iter_trust_lines(log_path):
        judge.judge(seq, line, f"entry {seq}")
    return judge


def check_signer(judge: EntryJudge, key: PublicKey, name: str) -> None:
    """``RefusedEntryError`` unless ``key`` (the local key ``name``) is trusted at the end of
    the log ``judge`` replayed; an empty log takes any key (its ``init`` founds it)."""
    if judge.last_seq < 0 or key.key_id in judge.trusted:
        return
    raise RefusedEntryError(
        f"key {name!r} ({key.key_id}) is not trusted by this case: an entry it signed would "
        "fail every verify, so nothing was written", hint=_trust_hint(judge, name))


def _trust_hint(judge: EntryJudge, name: str) -> str:
    """How to get the key ``name`` trusted: a key the case trusts signs a key-trusted entry
    for it (``prov keys add``); named when this user holds one."""
    folder = home.keys_dir()
    names = sorted(p.stem for p in folder.glob("*.pub") if not p.name.endswith(".p384.pub")
                   ) if folder.is_dir() else []
    for trusted in names:
        try:
            if PublicKey.load(folder / f"{trusted}.pub").key_id in judge.trusted:
                return (f"`prov keys export --key {name} > {name}.pub && prov keys add "
                        f"{name}.pub --key {trusted}` makes the case trust it; or sign with "
                        f"--key {trusted}")
        except ConfigError:
            continue
    return (f"send `prov keys export --key {name}` to the case's custodian, who runs "
            f"`prov keys add {name}.pub` to make the case trust it")


def check_lines(judge: EntryJudge, key: PublicKey, name: str, lines: Sequence[bytes],
                first_seq: int) -> None:
    """Judge the lines ``key`` signed, about to be appended at ``first_seq``, as verify will
    judge them; ``RefusedEntryError`` naming the first thing verify would fail."""
    check_signer(judge, key, name)
    report = Report("new entries", "case")
    judge.report = report
    for offset, line in enumerate(lines):
        seq = first_seq + offset
        if len(line) > MAX_LINE:
            raise RefusedEntryError(f"new entry {seq} would be {len(line)} bytes, longer than "
                                    f"the {MAX_LINE} a log line may be; nothing was written",
                                    hint="shorten the note or the names given")
        judge.judge(seq, line, f"new entry {seq}")
    failed = [f for f in report.findings if f.status == "fail"]
    if failed:
        raise RefusedEntryError(f"{failed[0].message}: the case could not verify this entry, "
                                "so nothing was written")


def check_cosigner_name(name: str) -> None:
    """``RefusedEntryError`` unless ``name`` can stand in a cosignature line that verify
    reads back (``checkpoint.note_name_problem``: C2SP's rule for names in signed notes)."""
    problem = note_name_problem(name)
    if problem is not None:
        raise RefusedEntryError(
            f"cosigner name {name!r} cannot go in a cosignature: {problem}; nothing was "
            "written", hint="use a name without spaces, e.g. 'Auditor-B' or "
                            "'audit.example/b'")
