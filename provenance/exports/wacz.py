"""Writing a signed WACZ 1.1.1 of a case's captures (Webrecorder WACZ 1.1.1; WACZ Signing and
Verification 0.1.0, anonymous form; CDXJ as ``archive.warc.cdxj`` writes it).

Layout (docs/FORMATS.md, "WACZ")::

    archive/<capture id>-<n>.warc.gz   each sealed WARC, byte for byte, ZIP "store"
    indexes/index.cdx                  CDXJ of every record, filenames as in archive/
    pages/pages.jsonl                  one page per seed URL that got an answer
    prov/manifest.json                 prov/wacz/v1: which file is which, the log proofs
    prov/<id>.seal.dsse.json ...       seals, seal tokens, the sealed CDXJ of each capture
    prov/log-entries.jsonl             custody lines (trust, and about the captures)
    prov/custody.checkpoint[.<tsa>.tsr]  the checkpoint they are proven against, its tokens
    prov/certs.<sha256>.pem            TSA chains (untrusted intermediates)
    prov/signer.dsse.json              Ed25519 DSSE statement binding the P-384 key
    datapackage.json                   every file's sha256 and size
    datapackage-digest.json            its sha256, signed with the P-384 key (signedData)

WACZ readers ignore ``prov/`` (the spec allows other folders, listed as resources); prov's
verifier reads every member in place, from the ZIP, bounded.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import rfc8785

from archive.errors import UsageError, WarcFormatError
from archive.warc.cdxj import IndexEntry, index_lines, iter_entries
from provenance import __version__
from provenance.base import timefmt
from provenance.custody.case import Case
from provenance.custody.stamping import Stamper
from provenance.exports.common import (
    CaptureParts,
    LogExtract,
    Verdict,
    capture_seeds,
    extract_log,
    gate,
    log_export,
    select,
)
from provenance.signing.dsse import sign_envelope
from provenance.signing.keys import SigningKey
from provenance.signing.p384 import P384SigningKey

WACZ_VERSION = "1.1.1"
SCHEMA = "prov/wacz/v1"
SIGNER_SCHEMA = "prov/wacz-signer/v1"
SIGNER_PAYLOAD = "application/vnd.prov.wacz-signer.v1+json"
MANIFEST = "prov/manifest.json"
INDEX_MEMBER = "indexes/index.cdx"
SIGNER = "prov/signer.dsse.json"
CHUNK = 1 << 20
DATA_NAME = re.compile(r"^data-([0-9]+)\.warc\.gz$")


@dataclass(frozen=True)
class WaczResult:
    path: Path
    datapackage_sha256: str
    signer_sha256: str
    p384_key_id: str
    captures: tuple[str, ...]
    pages: int
    resources: int


class _Zip:
    """A ZIP being written, and the datapackage resources of what went in."""

    def __init__(self, zf: zipfile.ZipFile, at: datetime) -> None:
        self.zf = zf
        self.date = at.timetuple()[:6]
        self.resources: list[dict[str, Any]] = []

    def _info(self, name: str, stored: bool, size: int) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, self.date)
        info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        info.file_size = size
        return info

    def add_bytes(self, name: str, data: bytes, *, listed: bool = True) -> str:
        self.zf.writestr(self._info(name, False, len(data)), data)
        digest = hashlib.sha256(data).hexdigest()
        if listed:
            self._list(name, digest, len(data))
        return digest

    def add_file(self, name: str, source: Path, *, stored: bool = False) -> None:
        digest, size = hashlib.sha256(), source.stat().st_size
        with open(source, "rb") as src, self.zf.open(self._info(name, stored, size), "w") as dst:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                dst.write(chunk)
        self._list(name, digest.hexdigest(), size)

    def _list(self, name: str, digest: str, size: int) -> None:
        self.resources.append({"name": name.rsplit("/", 1)[-1].lower(), "path": name,
                               "hash": f"sha256:{digest}", "bytes": size})


def archive_name(capture_id: str, warc: str, position: int) -> str:
    """``archive/<capture id>-<n>.warc.gz``, n the number of ``data-NNNNN.warc.gz``."""
    match = DATA_NAME.match(warc)
    return f"archive/{capture_id}-{int(match.group(1)) if match else position}.warc.gz"


def export(case: Case, capture_ids: Sequence[str], out: Path, key: SigningKey,
           p384: P384SigningKey, at: datetime, *, allow_failed: bool = False,
           stamper: Stamper | None = None) -> WaczResult:
    """Verify the case (the gate), write the WACZ, and log an ``export`` entry for it."""
    if out.exists():
        raise UsageError(f"-o {out}: already exists")
    verdict = gate(case, allow_failed)
    result = write_wacz(case, select(case, capture_ids), out, key, p384, verdict, at)
    log_export(case, stamper, key, at, {
        "kind": "wacz", "captures": list(result.captures), "destination": out.name,
        "manifestSha256": result.datapackage_sha256, "signerSha256": result.signer_sha256,
        "p384KeyId": result.p384_key_id, "verification": verdict.as_json()["result"]})
    return result


def write_wacz(case: Case, parts: Sequence[CaptureParts], out: Path, key: SigningKey,
               p384: P384SigningKey, verdict: Verdict, at: datetime) -> WaczResult:
    """Write the package to ``out`` (via ``out.partial``, renamed when complete)."""
    if out.suffix != ".wacz":
        raise UsageError(f"-o {out}: a WACZ file name must end in .wacz")
    if out.exists():
        raise UsageError(f"-o {out}: already exists")
    tmp = out.with_name(out.name + ".partial")
    try:
        with zipfile.ZipFile(tmp, "x", allowZip64=True) as zf:
            result = _write(case, parts, _Zip(zf, at), out, key, p384, verdict, at)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return result


def _write(case: Case, parts: Sequence[CaptureParts], z: _Zip, out: Path, key: SigningKey,
           p384: P384SigningKey, verdict: Verdict, at: datetime) -> WaczResult:
    created = timefmt.format_time(at)
    entries: list[IndexEntry] = []
    pages: list[dict[str, Any]] = []
    captures = []
    for capture in parts:
        files: dict[str, str] = {}
        for position, warc in enumerate(capture.warcs):
            name = archive_name(capture.capture_id, warc, position)
            z.add_file(name, capture.folder / warc, stored=True)
            files[warc] = name
            entries += _index(capture.folder / warc, name.rsplit("/", 1)[1])
        pages += _pages(capture, [e for e in entries if e.filename.startswith(
            capture.capture_id + "-")])
        captures.append(_prov_files(z, capture, files))
    # CDXJ under the name pywb's `wb-manager add` looks for (*.cdx, *.cdx.gz) and py-wacz writes
    z.add_bytes(INDEX_MEMBER, b"".join(index_lines(entries)))
    z.add_bytes("pages/pages.jsonl", _pages_jsonl(case, pages))
    log = extract_log(case, [c.capture_dir for c in parts])
    signer = _signer_statement(case, key, p384, created)
    signer_sha = z.add_bytes(SIGNER, signer)
    manifest = _manifest(case, z, captures, log, key, verdict, created)
    z.add_bytes(MANIFEST, rfc8785.dumps(manifest))
    package = json.dumps(_datapackage(case, z.resources, pages, verdict, created),
                         indent=2).encode()
    package_sha = z.add_bytes("datapackage.json", package, listed=False)
    hash_label = f"sha256:{package_sha}"
    signed = {"hash": hash_label, "created": created, "software": f"prov {__version__}",
              "version": __version__, "publicKey": p384.public.b64,
              "signature": _b64(p384.sign_raw(hash_label.encode()))}
    digest = {"path": "datapackage.json", "hash": hash_label, "signedData": signed}
    z.add_bytes("datapackage-digest.json", json.dumps(digest, indent=2).encode(), listed=False)
    return WaczResult(out, package_sha, signer_sha, p384.public.key_id,
                      tuple(p.capture_id for p in parts), len(pages), len(z.resources))


def _index(path: Path, name: str) -> list[IndexEntry]:
    found = []
    try:
        for entry in iter_entries(path):
            found.append(replace(entry, filename=name))
    except WarcFormatError:
        pass  # a damaged WARC, exported with --allow-failed: index what can be read
    return found


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _prov_files(z: _Zip, capture: CaptureParts, files: dict[str, str]) -> dict[str, Any]:
    """The capture's seal, tokens and other sealed files under ``prov/``."""
    cid = capture.capture_id
    z.add_bytes(f"prov/{cid}.seal.dsse.json", capture.seal_bytes)
    tokens = {}
    for token in capture.tokens:
        tokens[token] = f"prov/{cid}.{token}"
        z.add_file(tokens[token], capture.folder / token)
    for extra in capture.extras:
        files[extra] = f"prov/{cid}.{extra}"
        z.add_file(files[extra], capture.folder / extra)
    return {"captureId": cid, "captureDir": capture.capture_dir,
            "seal": f"prov/{cid}.seal.dsse.json", "tokens": tokens, "files": files}


def _manifest(case: Case, z: _Zip, captures: list[dict[str, Any]], log: LogExtract,
              key: SigningKey, verdict: Verdict, created: str) -> dict[str, Any]:
    z.add_bytes("prov/log-entries.jsonl", b"".join(line + b"\n" for line in log.lines))
    z.add_bytes("prov/custody.checkpoint", log.checkpoint)
    tokens = {}
    for token in log.checkpoint_tokens:
        tsa = token.name.split(".")[1]
        tokens[tsa] = f"prov/custody.checkpoint.{tsa}.tsr"
        z.add_file(tokens[tsa], token)
    certs = []
    for pem in sorted(case.certs_dir.glob("*.pem")):
        certs.append(f"prov/certs.{pem.name}")
        z.add_file(certs[-1], pem)
    return {"schema": SCHEMA, "caseId": case.info.id, "origin": case.info.origin,
            "title": case.info.title, "created": created, "exportedBy": key.key_id,
            "verification": verdict.as_json(), "captures": captures, "certs": certs,
            "signer": SIGNER, "log": {
                "entries": "prov/log-entries.jsonl", "checkpoint": "prov/custody.checkpoint",
                "treeSize": log.size, "proofs": list(log.proofs),
                "checkpointTokens": tokens}}


def _signer_statement(case: Case, key: SigningKey, p384: P384SigningKey, created: str) -> bytes:
    """The DSSE envelope in which the Ed25519 key vouches for the P-384 key."""
    payload = rfc8785.dumps({"schema": SIGNER_SCHEMA, "ed25519KeyId": key.key_id,
                             "p384KeyId": p384.public.key_id, "p384PublicKey": p384.public.b64,
                             "origin": case.info.origin, "created": created})
    return bytes(sign_envelope(SIGNER_PAYLOAD, payload, key))


def _pages(capture: CaptureParts, entries: Sequence[IndexEntry]) -> list[dict[str, Any]]:
    """One page per seed that has a response (or revisit), at its first capture time."""
    pages = []
    for url in dict.fromkeys(capture_seeds(capture)):
        hits = sorted((e for e in entries if e.url == url), key=lambda e: e.timestamp)
        if not hits:
            continue
        ts = hits[0].timestamp
        when = f"{ts[:4]}-{ts[4:6]}-{ts[6:8]}T{ts[8:10]}:{ts[10:12]}:{ts[12:14]}Z"
        page_id = hashlib.sha256(f"{capture.capture_id} {url}".encode()).hexdigest()[:32]
        pages.append({"id": page_id, "url": url, "ts": when, "title": url,
                      "captureId": capture.capture_id})
    return pages


def _pages_jsonl(case: Case, pages: Sequence[dict[str, Any]]) -> bytes:
    header = {"format": "json-pages-1.0", "id": "pages",
              "title": case.info.title or f"prov case {case.info.id}"}
    return b"".join(json.dumps(p, ensure_ascii=False).encode() + b"\n" for p in [header, *pages])


def _datapackage(case: Case, resources: list[dict[str, Any]], pages: Sequence[dict[str, Any]],
                 verdict: Verdict, created: str) -> dict[str, Any]:
    title = case.info.title or f"prov case {case.info.id}"
    description = (f"Evidence exported by prov {__version__} from case {case.info.id}. Every "
                   "WARC is sealed and every step logged; check it all with `prov verify "
                   "FILE.wacz --trust-id <the operator's key id>`.")
    if verdict.banner:
        title = f"FAILED VERIFICATION: {title}"
        description = f"**{verdict.banner}**\n\n{description}"
    package: dict[str, Any] = {
        "profile": "data-package", "wacz_version": WACZ_VERSION, "title": title,
        "description": description, "created": created, "software": f"prov {__version__}",
        "resources": resources}
    if pages:
        package["mainPageUrl"] = pages[0]["url"]
        package["mainPageDate"] = pages[0]["ts"]
    return package
