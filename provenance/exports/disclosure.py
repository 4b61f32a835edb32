"""Selective disclosure: some records of one capture, provable without the rest of the case.

A disclosure package is a folder::

    disclosure.json      manifest (schema prov/disclosure/v1), RFC 8785
    seal.dsse.json       the capture's seal, exact bytes (and seal.<tsa>.tsr tokens)
    records.warc.gz      the chosen records: their gzip members copied byte for byte
    certs/               the TSA chains its seal tokens carry (untrusted intermediates)
    log-entries.jsonl    the custody lines needed: trust (init, keys, transfers) and the
                         entries about the capture, exact bytes
    checkpoint           the signed checkpoint the entries are proven against

Each disclosed record comes with its RFC 9162 inclusion proof against the seal's records
root; records left out (request records hold cookies) are listed by leaf hash with a proof,
so their existence is shown without their content. Each log line comes with its inclusion
proof against the checkpoint.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rfc8785

from archive.errors import UsageError
from archive.warc.recordcheck import iter_checks
from provenance.base.untrusted import load_json, read_regular
from provenance.custody import merkle
from provenance.custody.case import SEAL_NAME, Case
from provenance.custody.checkpoint import read_unverified
from provenance.custody.log import CustodyLog, latest_checkpoint
from provenance.custody.logfile import iter_lines
from provenance.errors import UntrustedInputError
from provenance.signing.dsse import MAX_ENVELOPE, parse_envelope
from provenance.signing.entryjudge import TRUST_ACTIONS
from provenance.signing.statements import CaptureSeal, Entry
from provenance.timestamps.tsatrust import MAX_CHAIN_FILE

SCHEMA = "prov/disclosure/v1"
CHAIN_NAME = re.compile(r"certs/[0-9a-f]{64}\.pem")
MAX_MANIFEST = 64 << 20


@dataclass(frozen=True)
class RecordRow:
    index: int
    file: str
    offset: int
    length: int
    record_id: str
    warc_type: str
    uri: str | None
    leaf: bytes


def _capture_records(folder: Path, seal: CaptureSeal) -> list[RecordRow]:
    rows: list[RecordRow] = []
    for subject in sorted(seal.subjects, key=lambda s: s.name):
        if subject.name not in seal.records:
            continue  # the CDXJ index
        path = folder / subject.name
        size = path.stat().st_size
        with open(path, "rb") as fh:
            _, checks = iter_checks(fh)
            heads = [(c.head, c.leaf_hash) for c in checks]
        offsets = [h.offset for h, _ in heads] + [size]
        for i, (head, leaf) in enumerate(heads):
            rows.append(RecordRow(len(rows), subject.name, head.offset,
                                  offsets[i + 1] - head.offset, head.record_id,
                                  head.warc_type, head.get("WARC-Target-URI"), leaf))
    return rows


def _chosen(rows: Sequence[RecordRow], urls: Sequence[str], with_requests: bool) -> set[int]:
    chosen = set()
    for row in rows:
        if row.warc_type == "warcinfo":
            continue
        if urls and row.uri not in urls:
            continue
        if row.warc_type == "request" and not with_requests:
            continue
        chosen.add(row.index)
    return chosen


def write_disclosure(case: Case, capture_dir: str, out: Path, urls: Sequence[str],
                     with_requests: bool) -> dict[str, Any]:
    if out.exists():
        raise UsageError(f"{out}: already exists")
    folder = case.root / capture_dir
    seal_bytes = read_regular(folder / SEAL_NAME, MAX_ENVELOPE, what=f"{capture_dir}/{SEAL_NAME}")
    seal = CaptureSeal.parse(parse_envelope(seal_bytes, what="seal").payload, what="seal")
    rows = _capture_records(folder, seal)
    chosen = _chosen(rows, urls, with_requests)
    if urls and not any(rows[i].uri in urls for i in chosen):
        raise UsageError("none of the given URLs is in the capture")
    leaves = [r.leaf for r in rows]
    out.mkdir(parents=True)
    shutil.copy2(folder / "seal.dsse.json", out / "seal.dsse.json")
    for token in sorted(folder.glob("seal.*.tsr")):
        shutil.copy2(token, out / token.name)
    records = []
    with open(out / "records.warc.gz", "wb") as dst:
        for row in rows:
            # only what the seal or the record's own bytes bind: a withheld record is its leaf
            # hash alone (its type or URI would be the discloser's word, checked by nobody)
            item: dict[str, Any] = {
                "index": row.index, "file": row.file, "leafHash": row.leaf.hex(),
                "included": row.index in chosen,
                "proof": [h.hex() for h in merkle.inclusion_proof(row.index, leaves)],
            }
            if row.index in chosen:
                item.update(recordId=row.record_id, type=row.warc_type, uri=row.uri,
                            packageOffset=dst.tell())
                with open(folder / row.file, "rb") as src:
                    src.seek(row.offset)
                    dst.write(src.read(row.length))
            records.append(item)
    chains: set[str] = set()
    entries = _write_entries(case, capture_dir, out, chains)
    for name in sorted(chains):  # the chains its tokens carry, as their entries name them
        try:
            pem = read_regular(case.root / name, MAX_CHAIN_FILE, what=name)
        except UntrustedInputError:
            continue  # verify of the case says why; the package then reports its token
        (out / "certs").mkdir(exist_ok=True)
        (out / name).write_bytes(pem)
    manifest = {"schema": SCHEMA, "origin": case.info.origin, "caseId": case.info.id,
                "captureId": seal.capture_id, "captureDir": capture_dir,
                "recordsTreeSize": len(rows), "records": records, **entries}
    (out / "disclosure.json").write_bytes(rfc8785.dumps(manifest))
    return manifest


def _write_entries(case: Case, capture_dir: str, out: Path, chains: set[str]
                   ) -> dict[str, Any]:
    """Write the log lines the package needs; ``chains`` gets the ``certs/`` files their
    ``timestamp-added`` entries name."""
    note = latest_checkpoint(case)
    size = read_unverified(note, what="checkpoint").size
    (out / "checkpoint").write_bytes(note)
    log = CustodyLog(case)
    tree = log.tree()
    picked = []
    try:
        prefix = merkle.Prefix(tree, size)
        with open(out / "log-entries.jsonl", "wb") as fh:
            for seq, line in enumerate(iter_lines(case.log_path)):
                if seq >= size:
                    break
                entry = Entry.parse(parse_envelope(line, what="entry").payload, what="entry")
                about = any(s.name.startswith(capture_dir + "/") for s in entry.subjects)
                if entry.action in TRUST_ACTIONS or about:
                    fh.write(line + b"\n")
                    if about and entry.action == "timestamp-added":
                        chains.update(s.name for s in entry.subjects[1:]
                                      if CHAIN_NAME.fullmatch(s.name))
                    picked.append({"seq": seq, "proof": [
                        h.hex() for h in merkle.inclusion_proof(seq, prefix)]})
    finally:
        tree.close()
    return {"treeSize": size, "entries": picked}


def load_manifest(path: Path) -> dict[str, Any]:
    data = read_regular(path / "disclosure.json", MAX_MANIFEST, what="disclosure.json")
    doc = load_json(data, what="disclosure.json", limit=MAX_MANIFEST)
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ValueError("not a prov disclosure manifest")
    return doc
