"""The layouts of a case folder, a disclosure package and a bag as allow-lists, and the walk
that judges every entry by one.

Layouts: docs/FORMATS.md, "The case folder" (``provenance.custody.case``), "Disclosure packages"
(``provenance.exports.disclosure``) and "BagIt bag" (``provenance.exports.bag``). Threat
(docs/SECURITY.md,
"Target kinds"): whoever can write a case can add files beside the evidence: a second WARC
at the root or in ``custody/``, a package's marker file, a symlink to a secret, a FIFO, a
tree nested deeper than the stack.
Nothing the layout does not name may pass silently, so one iterative walk
(``untrusted.iter_tree``, no link followed) visits every entry once and each is judged
against the places of ``CASE`` (or ``DISCLOSURE``, ``BAG``). Every kind of target has its
list, so files of one kind dropped into another always fail, whatever kind is decided:

- a place marked ``listed`` is a folder whose every child must match a place itself;
- ``judged`` folders (a capture folder, a checkpoint shard) hold files that
  another check judges by name (against the seal, or by the shard rule): here only their
  type is judged (a regular file, never a link or a FIFO) and nothing below them is entered;
- a ``staged`` folder (a capture being written, ``captures/.partial/<capture id>``) is
  judged by no other check: its entries must be regular files, nothing below is entered;
- ``derived`` (``state/``) is unsigned derived state that verify never reads: the folder
  itself must be a folder, nothing inside it is entered;
- ``apart`` (a bag's ``data/``) is a folder another walk judges (the case's own).

Findings: ``case.unexpected`` / ``disclosure.unexpected`` / ``bag.unexpected`` (a name the
layout does not have, or a file where a folder belongs), ``file.symlink`` (never followed),
``file.type`` (FIFO, socket, device: never opened).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from provenance.base.ids import CAPTURE_DAY
from provenance.base.report import Report
from provenance.base.untrusted import TreeEntry, iter_tree

Inside = Literal["listed", "judged", "staged", "derived", "apart", "file"]


@dataclass(frozen=True)
class Place:
    pattern: re.Pattern[str]
    inside: Inside  # "file": a regular file; the others: a folder and how its children go
    what: str


def _place(pattern: str, inside: Inside, what: str) -> Place:
    return Place(re.compile(pattern), inside, what)


_CAPTURE_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # as staged
CASE: tuple[Place, ...] = (
    _place(r"case\.json", "file", "the case's identity"),
    _place(r"\.lock", "file", "the case lock (flock)"),
    _place(r"config\.toml", "file", "the case's configuration"),
    _place(r"keys", "listed", "cache of public keys"),
    _place(r"keys/[0-9a-f]{64}\.pub", "file", "a cached public key"),
    _place(r"certs", "listed", "cache of certificate chains"),
    _place(r"certs/[0-9a-f]{64}\.pem", "file", "a certificate chain by its sha256"),
    _place(r"captures", "listed", "captures by date"),
    _place(r"captures/[0-9]{4}", "listed", "a year"),
    _place(r"captures/[0-9]{4}/[0-9]{2}", "listed", "a month"),
    _place(CAPTURE_DAY, "listed", "a day"),
    _place(CAPTURE_DAY + r"/[^/]+", "judged", "a capture folder (its files judged by its seal)"),
    _place(r"captures/\.partial", "listed", "captures being written"),
    _place(r"captures/\.partial/" + _CAPTURE_ID, "staged", "a capture being written"),
    _place(r"custody", "listed", "the custody log and its checkpoints"),
    _place(r"custody/log\.jsonl", "file", "the custody log"),
    _place(r"custody/checkpoints", "listed", "checkpoint shard folders"),
    _place(r"custody/checkpoints/[^/]+", "judged", "a checkpoint shard (by the shard rule)"),
    _place(r"state", "derived", "derived state, never read by verify"),
)
DISCLOSURE: tuple[Place, ...] = (
    _place(r"disclosure\.json", "file", "the manifest"),
    _place(r"seal\.dsse\.json", "file", "the capture's seal"),
    _place(r"seal\.[0-9a-f]{16}\.tsr", "file", "a seal token"),
    _place(r"records\.warc\.gz", "file", "the disclosed records"),
    _place(r"log-entries\.jsonl", "file", "the custody lines"),
    _place(r"checkpoint", "file", "the signed checkpoint"),
    _place(r"certs", "listed", "TSA chains"),
    _place(r"certs/[0-9a-f]{64}\.pem", "file", "a certificate chain by its sha256"),
)


BAG: tuple[Place, ...] = (
    _place(r"bagit\.txt", "file", "the BagIt declaration"),
    _place(r"bag-info\.txt", "file", "the bag's metadata"),
    _place(r"(tag)?manifest-(sha256|sha512)\.txt", "file", "a manifest"),
    _place(r"VERIFY\.txt", "file", "the verification steps"),
    _place(r"tagmanifest\.dsse\.json", "file", "the tag manifest's signature"),
    _place(r"tagmanifest\.[0-9a-f]{16}\.(tsr|pem)", "file", "a tag manifest token or chain"),
    _place(r"data", "apart", "the case, judged as a case"),
)


def judge_layout(root: Path, report: Report, places: tuple[Place, ...] = CASE,
                 kind: str = "case") -> None:
    """Judge every entry under ``root`` against ``places``; findings go to ``report``."""
    modes: dict[str, Inside] = {"": "listed"}

    def enter(rel: str) -> bool:
        return modes.get(rel) in ("listed", "judged", "staged")

    def judged(rel: str) -> bool:  # its files are the seal's to judge: only odd types matter
        return modes.get(rel) == "judged"

    for entry in iter_tree(root, prune=lambda rel: not enter(rel), quiet=judged):
        parent = entry.rel.rsplit("/", 1)[0] if "/" in entry.rel else ""
        if not _judge_type(entry, report, kind):
            continue
        if modes.get(parent) == "judged":
            continue  # named by the seal or the shard rule, which judge it
        if modes.get(parent) == "staged":  # no other check looks inside: only files belong
            if entry.kind != "file":
                report.add("fail", f"{kind}.unexpected", entry.rel,
                           "folder inside a capture being written, which holds only files")
            continue
        place = next((p for p in places if p.pattern.fullmatch(entry.rel)), None)
        if place is None:
            report.add("fail", f"{kind}.unexpected", entry.rel,
                       f"{'folder' if entry.kind != 'file' else 'file'} that the {kind} layout "
                       "does not name (prov never writes it)")
        elif (place.inside == "file") != (entry.kind == "file"):
            found = "a folder" if entry.kind != "file" else "a file"
            report.add("fail", f"{kind}.unexpected", entry.rel,
                       f"{found} where the {kind} layout has {place.what}")
        elif entry.kind != "file":
            modes[entry.rel] = place.inside


def _judge_type(entry: TreeEntry, report: Report, kind: str) -> bool:
    """False (and a finding) for what is never opened: a link, a FIFO, socket or device."""
    if entry.kind == "symlink":
        report.add("fail", "file.symlink", entry.rel,
                   f"symbolic link inside the {kind} (never followed)")
        return False
    if entry.kind == "other":
        report.add("fail", "file.type", entry.rel,
                   "not a regular file or folder (a FIFO, socket or device; never opened)")
        return False
    return True
