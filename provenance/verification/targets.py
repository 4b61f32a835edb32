"""What `prov verify` takes a target for: a case, a WACZ, a bag, a disclosure or a proof.

Threat (docs/SECURITY.md, "Target kinds"): the kind decides which checks run, so whoever can
write the target must not be able to choose it. A case folder that also holds a package's
marker file (``disclosure.json``, ``bagit.txt``) was verified as that package, which never
looks at the case's captures. Here one function decides, in a fixed order that puts the
case first: a folder with ``case.json`` or ``custody/`` is a case, always (a package
marker in it is then an unexpected file of the case); only a folder without them is a
disclosure (``disclosure.json``) or a bag (``bagit.txt``); a file is a WACZ when it is a ZIP,
a proof when it is JSON. ``--as`` pins the kind. The report names the kind and the reason.

Deleting the marker must not turn evidence into "not a target" (exit 4, which an auditor may
read as "wrong folder" rather than "tampered"): a folder whose marker is gone but which still
holds what only that kind holds is that kind, damaged, and its verifier fails it (exit 3).
Remains are looked for in the same order, case first: ``captures/``; a disclosure's
``seal.dsse.json``, ``records.warc.gz`` or ``log-entries.jsonl``; a bag's ``bag-info.txt``,
manifests, tag manifest signature, or a ``data/`` that holds a case. A file whose ZIP end
record survives, or whose name ends ``.wacz``, is a WACZ however its first bytes were changed.
Exit 4 is left for a target with nothing of any kind.
"""

from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from archive.errors import NotATargetError, UsageError
from provenance.base.untrusted import open_regular
from provenance.custody.case import SEAL_NAME
from provenance.errors import UntrustedInputError

Kind = Literal["case", "wacz", "bag", "disclosure", "proof"]
KINDS: tuple[Kind, ...] = ("case", "wacz", "bag", "disclosure", "proof")

# the first marker present decides; the case's come first so nothing added can outrank them
FOLDER_MARKERS: tuple[tuple[str, Kind], ...] = (
    ("case.json", "case"),
    ("custody", "case"),
    ("disclosure.json", "disclosure"),
    ("bagit.txt", "bag"),
)


# what is left of a kind once its marker is deleted, in the markers' order
REMAINS: tuple[tuple[tuple[str, ...], Kind], ...] = (
    (("captures",), "case"),
    ((SEAL_NAME, "records.warc.gz", "log-entries.jsonl"), "disclosure"),
    (("bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt", "tagmanifest-sha256.txt",
      "tagmanifest-sha512.txt", "tagmanifest.dsse.json", "data/case.json", "data/custody"),
     "bag"),
)
MARKER = {"case": "case.json", "disclosure": "disclosure.json", "bag": "bagit.txt"}


@dataclass(frozen=True)
class TargetKind:
    kind: Kind
    reason: str


def decide_kind(target: Path, pinned: str | None = None) -> TargetKind:
    """The kind of ``target`` and why; NotATargetError (exit 4) if it is none of them."""
    if pinned is not None:
        if pinned not in KINDS:
            raise UsageError(f"--as {pinned}: expected one of {', '.join(KINDS)}")
        return TargetKind(pinned, f"--as {pinned}")
    try:
        mode = os.stat(target).st_mode  # the path the verifier named is followed
    except (OSError, ValueError):
        raise NotATargetError(f"{target}: no such file or folder") from None
    if stat.S_ISDIR(mode):
        for marker, kind in FOLDER_MARKERS:
            if os.path.lexists(target / marker):
                suffix = "/" if marker == "custody" else ""
                return TargetKind(kind, f"{marker}{suffix} at its root")
        for names, kind in REMAINS:
            found = next((n for n in names if os.path.lexists(target / n)), None)
            if found is not None:
                return TargetKind(kind, f"{found} at its root, {MARKER[kind]} missing "
                                  f"(a damaged {kind})")
        raise NotATargetError(f"{target}: not a case or package (none of case.json, custody/, "
                              "disclosure.json, bagit.txt at its root)")
    if stat.S_ISREG(mode):
        head = _head(target)
        if head.startswith(b"PK") and zipfile.is_zipfile(target):
            return TargetKind("wacz", "a ZIP file")
        if zipfile.is_zipfile(target):
            return TargetKind("wacz", "a ZIP end record, not a ZIP's first bytes (a damaged "
                              "WACZ)")
        if target.name.lower().endswith(".wacz"):
            return TargetKind("wacz", "named .wacz, not a ZIP (a damaged WACZ)")
        if head.lstrip()[:1] == b"{":
            return TargetKind("proof", "a JSON file")
    raise NotATargetError(f"{target}: not a case folder, a package or a proof")


def _head(path: Path) -> bytes:
    try:
        fd = open_regular(path, follow=True)  # the path the verifier named is followed
    except UntrustedInputError:
        return b""
    try:
        return os.read(fd, 64)
    except OSError:
        return b""
    finally:
        os.close(fd)
