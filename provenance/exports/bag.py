"""Writing a case as a BagIt 1.0 bag (RFC 8493) that a receiver can verify with standard tools.

``data/`` is a copy of the case as of its custody log at export: case.json, keys/, certs/,
every logged capture's sealed files, seal and logged tokens, custody/log.jsonl and the
checkpoints (state/ and unlogged files stay behind). Manifests in sha256 and sha512 (one
pass over each file); bag-info.txt names the case, its title, a contact and the software.
The tag manifest ``tagmanifest-sha256.txt`` (covering bagit.txt, bag-info.txt, both
manifests and VERIFY.txt) is signed as a DSSE envelope with its own payloadType,
``tagmanifest.dsse.json``, which each configured TSA stamps (``tagmanifest.<tsa>.tsr``).
These signature files are tag files outside the tag manifest they sign. VERIFY.txt walks a
receiver through the checks with bagit.py, coreutils, OpenSSL and warcio: steps pasted as
they are into an interactive bash, each ending with "step N: pass" or "step N: FAILED" and
none closing the shell.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

from archive.errors import UsageError
from provenance import __version__
from provenance.base import timefmt
from provenance.base.untrusted import is_regular
from provenance.custody.case import SEAL_NAME, Case
from provenance.custody.log import shard_names
from provenance.custody.logfile import iter_lines
from provenance.custody.stamping import Stamper
from provenance.exports.common import Verdict, capture_parts, gate, log_export
from provenance.signing.dsse import parse_envelope, sign_envelope
from provenance.signing.keys import SigningKey
from provenance.signing.statements import Entry
from provenance.timestamps.rfc3161 import chain_pem, tsa_id

PAYLOAD_TYPE = "application/vnd.prov.bagit-tagmanifest.v1+text"
SIGNATURE = "tagmanifest.dsse.json"
TAG_FILES = ("bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt",
             "VERIFY.txt")
CHUNK = 1 << 20
TSA_FIELD = "Prov-Tagmanifest-TSAs"  # the TSAs asked to stamp the signature, by tsa id


@dataclass(frozen=True)
class BagResult:
    path: Path
    tagmanifest_sha256: str
    signature_sha256: str
    files: int
    stamped: tuple[str, ...]  # TSA URLs that stamped the signature
    unstamped: tuple[str, ...]  # "URL: error" for those that failed
    verdict: Verdict


def export(case: Case, out: Path, key: SigningKey, at: datetime, *, allow_failed: bool = False,
           stamper: Stamper | None = None, contact: str | None = None) -> BagResult:
    """Copy the case into a bag, verify the copy (the gate), sign, stamp, log ``export``."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"-o {out}: exists and is not an empty folder")
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        raise UsageError(f"{tmp}: left by an interrupted export; remove it first")
    try:
        _copy_case(case, tmp / "data", key)
        verdict = gate(Case.open(tmp / "data"), allow_failed, label=case.root)
        result = _finish(case, tmp, out, key, at, verdict, stamper or Stamper([]), contact)
        if out.exists():
            out.rmdir()
        os.rename(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log_export(case, stamper, key, at, {
        "kind": "bag", "destination": out.name, "manifestSha256": result.tagmanifest_sha256,
        "signatureSha256": result.signature_sha256, "files": result.files,
        "verification": verdict.as_json()["result"]})
    return result


def key_hex(key: SigningKey) -> str:
    return key.key_id.split(":", 1)[1]


def _copy_case(case: Case, data: Path, key: SigningKey) -> None:
    """The log and checkpoints (under the case lock, a consistent cut), then what they name."""
    (data / "custody" / "checkpoints").mkdir(parents=True)
    with case.lock():
        lines = list(iter_lines(case.log_path))
        (data / "custody" / "log.jsonl").write_bytes(b"".join(x + b"\n" for x in lines))
        for name in shard_names(case):  # the same shard folders in the bag
            for path in sorted((case.checkpoints_dir / name).iterdir()):
                if is_regular(path) and not path.name.endswith(".tmp"):
                    (data / case.relative(path)).parent.mkdir(exist_ok=True)
                    shutil.copy2(path, data / case.relative(path))
    shutil.copy2(case.root / "case.json", data / "case.json")
    for folder in ("keys", "certs"):
        (data / folder).mkdir()
        for path in sorted((case.root / folder).glob("*")):
            if is_regular(path):
                shutil.copy2(path, data / folder / path.name)
    signer = data / "keys" / f"{key_hex(key)}.pub"
    if not signer.exists():
        signer.write_bytes(key.public.pem())

    named = set()
    for line in lines:
        entry = Entry.parse(parse_envelope(line, what="entry").payload, what="entry")
        named |= {s.name for s in entry.subjects}
        if entry.action == "capture":
            parts = capture_parts(case, str(entry.details.get("captureDir")))
            target = data / parts.capture_dir
            target.mkdir(parents=True)
            for name in (*parts.warcs, *parts.extras, SEAL_NAME):
                shutil.copy2(parts.folder / name, target / name)
    for name in sorted(named):  # tokens the log names (a later `prov timestamp`'s are not)
        if name.startswith("captures/") and name.endswith(".tsr"):
            shutil.copy2(case.root / name, data / name)


def _hash_both(path: Path) -> tuple[str, str]:
    sha256, sha512 = hashlib.sha256(), hashlib.sha512()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            sha256.update(chunk)
            sha512.update(chunk)
    return sha256.hexdigest(), sha512.hexdigest()


def _manifests(root: Path, names: list[str]) -> tuple[bytes, bytes]:
    lines256, lines512 = [], []
    for name in names:
        h256, h512 = _hash_both(root / name)
        lines256.append(f"{h256}  {name}\n")
        lines512.append(f"{h512}  {name}\n")
    return "".join(lines256).encode(), "".join(lines512).encode()


def _finish(case: Case, tmp: Path, out: Path, key: SigningKey, at: datetime, verdict: Verdict,
            stamper: Stamper, contact: str | None) -> BagResult:
    files = sorted(p.relative_to(tmp).as_posix() for p in (tmp / "data").rglob("*")
                   if p.is_file())
    size = sum((tmp / f).stat().st_size for f in files)
    m256, m512 = _manifests(tmp, files)
    (tmp / "manifest-sha256.txt").write_bytes(m256)
    (tmp / "manifest-sha512.txt").write_bytes(m512)
    (tmp / "bagit.txt").write_bytes(b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    (tmp / "bag-info.txt").write_bytes(_bag_info(case, key, at, verdict, contact, size,
                                                 len(files), stamper))
    tokens = sum(1 for f in files if f.endswith(".tsr")) + len(stamper.urls)
    (tmp / "VERIFY.txt").write_bytes(_verify_text(case, key, at, verdict, stamper, tokens))
    t256, t512 = _manifests(tmp, list(TAG_FILES))
    (tmp / "tagmanifest-sha256.txt").write_bytes(t256)
    (tmp / "tagmanifest-sha512.txt").write_bytes(t512)
    envelope = bytes(sign_envelope(PAYLOAD_TYPE, t256, key))
    (tmp / SIGNATURE).write_bytes(envelope)
    stamped, unstamped = [], []
    for outcome in stamper.stamp(envelope):
        if outcome.stamp is None:
            unstamped.append(f"{outcome.url}: {outcome.error}")
            continue
        stamped.append(outcome.url)
        (tmp / f"tagmanifest.{outcome.tsa_id}.tsr").write_bytes(outcome.stamp.response_der)
        if outcome.stamp.chain_der:
            (tmp / f"tagmanifest.{outcome.tsa_id}.pem").write_bytes(
                chain_pem(outcome.stamp.chain_der))
    return BagResult(out, hashlib.sha256(t256).hexdigest(), hashlib.sha256(envelope).hexdigest(),
                     len(files), tuple(stamped), tuple(unstamped), verdict)


def _tag_value(text: str) -> str:
    return " ".join(text.split())  # one line: RFC 8493 allows folding, readers differ


def _bag_info(case: Case, key: SigningKey, at: datetime, verdict: Verdict, contact: str | None,
              size: int, count: int, stamper: Stamper) -> bytes:
    fields = [
        ("Source-Organization", "prov case " + case.info.id),
        ("Contact-Name", contact or f"holder of prov key {key.name!r} ({key.key_id})"),
        ("External-Identifier", case.info.id),
        ("External-Description", case.info.title or f"prov case {case.info.id}"),
        ("Title", case.info.title or f"prov case {case.info.id}"),
        ("Bagging-Date", at.strftime("%Y-%m-%d")),
        ("Bag-Software-Agent", f"prov {__version__}"),
        ("Payload-Oxum", f"{size}.{count}"),
        ("Prov-Case-Origin", case.info.origin),
        ("Prov-Signer-Key-Id", key.key_id),
        ("Prov-Exported-At", timefmt.format_time(at)),
        ("Prov-Verification", "pass" if verdict.ok else f"FAILED ({verdict.banner})"),
        # signed (the tag manifest covers this file): a token deleted later is noticed
        (TSA_FIELD, " ".join(tsa_id(url) for url in stamper.urls) or "none"),
    ]
    return "".join(f"{name}: {_tag_value(value)}\n" for name, value in fields).encode()


def _verify_text(case: Case, key: SigningKey, at: datetime, verdict: Verdict,
                 stamper: Stamper, tokens: int) -> bytes:
    """VERIFY.txt: steps pasted into an interactive bash; each reports, none exits.
    ``tokens`` counts the payload's tokens and the tag manifest's expected ones."""
    template = resources.files("provenance").joinpath("data/bag-verify.txt").read_text()
    hex_id = key_hex(key)
    tsa_note = ("Expect one tagmanifest.<tsa>.tsr per TSA." if stamper.urls else
                "No TSA was configured for this export: only the seals and checkpoints the case "
                "had stamped have tokens.")
    values = {
        "@BANNER@": f"{verdict.banner}\n\n" if verdict.banner else "",
        "@VERSION@": __version__, "@CASE_ID@": case.info.id,
        "@TITLE@": _tag_value(case.info.title), "@CREATED@": timefmt.format_time(at),
        "@KEY_ID@": key.key_id, "@KEY_HEX@": hex_id,
        "@KEY_PEM@": f"data/keys/{hex_id}.pub", "@PAYLOAD_TYPE@": PAYLOAD_TYPE,
        "@TSA_COUNT@": str(len(stamper.urls)), "@TSA_NOTE@": tsa_note,
        "@TOKEN_COUNT@": str(tokens),
    }
    for name, value in values.items():
        template = template.replace(name, value)
    return template.encode()
