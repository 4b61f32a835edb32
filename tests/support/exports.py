"""Shared by the export tests (WACZ, bag, exhibit report): a case built once per module.

`build(root, tsa)` makes key "default" and a case, snapshots the demo site (stamped by the
local TSA when one is given), and adds a capture made through the library the way a browser
capture will be: an HTTPS response with its metadata record (TLS chain), a `urn:fullPage:`
screenshot resource record, and a revisit of the demo site's front page that refers to the
first capture's response (identical-payload-digest profile).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from helpers import PASSPHRASE, prov_env, run_prov, verify_report
from servers import png_bytes
from testca import TestCA
from tsa import LocalTSA

from archive.http.crawl import json_block, new_record_id
from archive.warc.cdxj import write_index
from archive.warc.reader import WarcReader
from archive.warc.writer import Block, Record, WarcWriter
from provenance import api
from provenance.base import ids
from provenance.base.digests import sha256_file
from provenance.capture.snapshot import (
    INDEX_NAME,
    SEAL_NAME,
    CaptureResult,
    build_seal,
    capture_dir_for,
    log_capture,
    warcinfo_factory,
)
from provenance.cli.demo import serve_site
from provenance.custody.case import Case
from provenance.custody.stamping import Stamper
from provenance.signing.dsse import sign_envelope
from provenance.signing.keys import SigningKey
from provenance.signing.statements import IN_TOTO_PAYLOAD, Subject

SHOT_URL = "https://evidence.example/post/42"
SHOT_TEXT = b"<html><body><h1>Post 42</h1><p>The deleted post.</p></body></html>"
SCREENSHOT = png_bytes(64, 48, lambda x, y: (x * 4, y * 5, 200 if (x // 8 + y // 8) % 2 else 40))


@dataclass
class Built:
    root: Path
    first_id: str  # demo site capture (stamped when a TSA was given)
    synthetic_id: str  # screenshot + revisit capture
    seeds: list[str]
    tsa: LocalTSA | None

    @property
    def env(self) -> dict[str, str]:
        return prov_env(self.root)

    @property
    def case(self) -> Path:
        return self.root / "case"

    @property
    def pub(self) -> Path:
        return self.root / "prov-home" / "keys" / "default.pub"

    def prov(self, *args: str, timeout: float = 120) -> object:
        return run_prov(*args, env=self.env, input=b"", timeout=timeout)

    def verify(self, target: Path, *args: str) -> tuple[int, dict[str, Any]]:
        """`prov verify TARGET --json` trusting the case's key and the TSA root, and ARGS."""
        proc: Any = self.prov("verify", str(target), "--json", "--trust", str(self.pub),
                              "--tsa-root", str(self.tsa_root()), *args)
        return verify_report(proc)

    def tsa_root(self) -> Path:
        path = self.root / "tsa-root.pem"
        if self.tsa is not None and not path.exists():
            path.write_bytes(self.tsa.root_pem)
        return path

    def clone(self, dest: Path) -> Built:
        shutil.copytree(self.root / "prov-home", dest / "prov-home")
        shutil.copytree(self.case, dest / "case")
        if (self.root / "tsa-root.pem").exists():
            shutil.copy2(self.root / "tsa-root.pem", dest / "tsa-root.pem")
        return Built(dest, self.first_id, self.synthetic_id, self.seeds, self.tsa)


@contextmanager
def environment(root: Path) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(prov_env(root))
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def build(root: Path, tsa: LocalTSA | None) -> Built:
    (root / "prov-home").mkdir(parents=True)
    with environment(root):
        api.generate_key("default", PASSPHRASE.encode())
        key = api.load_key("default")
        stamper = Stamper([tsa.url] if tsa else [])
        case = api.init_case(root / "case", "Export test <case> & co", key,
                             datetime.now(UTC), stamper)
        with serve_site() as base:
            seeds = [base + "/", base + "/article.html"]
            first = api.snapshot(case, seeds, key, api.SnapshotOptions(), stamper=stamper)
        synthetic = synthetic_capture(case, key, seeds[0], first.capture_dir)
    return Built(root, first.capture_id, synthetic, seeds, tsa)


def _original(case: Case, capture_dir: str, url: str) -> tuple[str, str, str]:
    """(record id, WARC-Date, payload digest) of the response for ``url``."""
    for warc in sorted((case.root / capture_dir).glob("*.warc.gz")):
        with open(warc, "rb") as fh:
            for head in WarcReader(fh):
                if head.warc_type == "response" and head.get("WARC-Target-URI") == url:
                    return (head.record_id, str(head.get("WARC-Date")),
                            str(head.get("WARC-Payload-Digest")))
    raise AssertionError(f"no response for {url}")


def _records(case: Case, original_dir: str, revisited: str, at: datetime) -> list[Record]:
    leaf = TestCA("Evidence Example").issue(["evidence.example"]).cert_pem.decode()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(
        SHOT_TEXT)
    response_id = new_record_id()
    meta = {"addresses": ["203.0.113.7"], "httpVersion": "HTTP/1.1",
            "tls": {"chainSent": [leaf], "verified": True, "version": "TLSv1.3"}}
    original_id, original_date, digest = _original(case, original_dir, revisited)
    revisit_head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
    return [
        Record("response", response_id, at, Block.of(head + SHOT_TEXT, payload_offset=len(head)),
               [("WARC-Target-URI", SHOT_URL), ("WARC-IP-Address", "203.0.113.7")],
               content_type="application/http;msgtype=response"),
        Record("metadata", new_record_id(), at, Block.of(json.dumps(meta).encode()),
               [("WARC-Target-URI", SHOT_URL), ("WARC-Concurrent-To", response_id)],
               content_type="application/json", with_payload_digest=False),
        Record("resource", new_record_id(), at, Block.of(SCREENSHOT),
               [("WARC-Target-URI", f"urn:fullPage:{SHOT_URL}")], content_type="image/png",
               with_payload_digest=False),
        Record("revisit", new_record_id(), at,
               Block.of(revisit_head, payload_offset=len(revisit_head)),
               [("WARC-Target-URI", revisited), ("WARC-Truncated", "length"),
                ("WARC-Profile", "http://netpreserve.org/warc/1.1/revisit/"
                                 "identical-payload-digest"),
                ("WARC-Refers-To", original_id), ("WARC-Refers-To-Target-URI", revisited),
                ("WARC-Refers-To-Date", original_date)],
               content_type="application/http;msgtype=response", payload_digest=digest),
    ]


def synthetic_capture(case: Case, key: SigningKey, revisited: str, original_dir: str) -> str:
    """A sealed, logged capture written through the library (as browser capture will)."""
    at = datetime.now(UTC)
    capture_id = ids.uuid7(at)
    relative = capture_dir_for(capture_id, at)
    partial = case.partial_dir / capture_id
    partial.mkdir(parents=True)
    writer = WarcWriter(partial, warcinfo=warcinfo_factory(capture_id, lambda: at))
    seeds = {"captureId": capture_id, "seeds": [SHOT_URL, revisited], "note": None}
    writer.write_group([Record("metadata", new_record_id(), at, json_block(seeds),
                               [("WARC-Target-URI", f"urn:prov:seeds:{capture_id}")],
                               content_type="application/json", with_payload_digest=False)])
    writer.write_group(_records(case, original_dir, revisited, at))
    files = writer.close()
    index = write_index(partial, [f.name for f in files], INDEX_NAME)
    seal = build_seal(capture_id, relative, at, at, files, key, None,
                      extra=[Subject(INDEX_NAME, sha256_file(index))], case_id=case.info.id)
    (partial / SEAL_NAME).write_bytes(sign_envelope(IN_TOTO_PAYLOAD, seal.payload(), key))
    final = case.root / relative
    final.parent.mkdir(parents=True, exist_ok=True)
    os.rename(partial, final)
    log_capture(case, final, CaptureResult(capture_id, relative, [], files), key, at,
                Stamper([]), [])
    return capture_id


def entries(built: Built) -> list[dict[str, object]]:
    proc = run_prov("log", "show", "--json", "--case", str(built.case), env=built.env)
    assert proc.returncode == 0, proc.stderr
    value = json.loads(proc.stdout)
    assert isinstance(value, list)
    return value
