"""Golden vectors: byte-exact files made from a fixed key, a fixed clock and fixed ids.

Regenerate them only when a format changes on purpose (and say so in the commit message):

    python tests/data/golden/regen.py

What is fixed: the Ed25519 seed is the 32 bytes 0x01..0x20 (key name ``golden``); the case
id, capture id, WARC record ids and every time are constants below; the tool version is
pinned to ``TOOL_VERSION`` so a release does not change the vectors; the TLS certificates
in the metadata record are Ed25519 certificates made from fixed seeds (deterministic).

The files are made by prov's own code paths: ``provenance.api.init_case`` (case.json, the
init entry, checkpoint 1), ``archive.warc.writer.WarcWriter`` with ``provenance.capture.snapshot``'s
warcinfo factory and ``archive.http.crawl.Capturer.exchange_records`` (one HTTPS exchange: request,
response, metadata), ``provenance.capture.snapshot.build_seal`` and ``sign_envelope`` (the seal),
and
``provenance.capture.snapshot.log_capture`` (the capture entry, checkpoint 2). Only the network is
replaced: the exchange is a fixed ``archive.http.recorder.Exchange``; and no TSA is configured
(RFC 3161 tokens carry the TSA's clock and a random nonce, so they cannot be golden).

Output, under this folder::

    case/                                  a complete case: verify passes with the key trusted
    seal.payload.json                      the seal's in-toto statement (RFC 8785 bytes)
    entry-0-init.payload.json              custody entry payloads (RFC 8785 bytes)
    entry-1-capture.payload.json
    verify-report.json                     a Report with fixed findings, as `prov verify --json`
    verify-report-fixity.json              a passing fixity Report, as `prov verify --fixity
                                           --json` prints it (mode, notChecked, lastFullVerify)
    media-availability.record              a media post's ``urn:availability:`` record (WARC
                                           header and block), from a fixed 410 answer
    captures-list.json                     `prov captures list --json` of the case
    captures-find.json                     `prov captures find URL --json` of the case
    entry-2-change-detected.payload.json   the change-detected entry a schedule run would log
                                           next (a browser source's rendered text changed; a
                                           requisite not fetched): a payload, not in the log
    schedule-run.json                      that run's `prov schedule run --json` summary

``tests/unit/test_golden.py`` rebuilds all of it and compares bytes. The WARC is gzip: its
compressed bytes depend on zlib (and on the OS byte zlib writes), so the test compares the
uncompressed records always and the compressed file only where zlib agrees; everything
downstream (seal, log, checkpoints) is built over the stored WARC file so it stays comparable.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import shutil
import sys
import tempfile
import uuid
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import h11
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from archive.http import recorder
from archive.http.crawl import CaptureOptions, Capturer, Hop, UrlOutcome, json_block
from archive.http.tls import TlsInfo
from archive.warc.writer import Block, Record, WarcFile, WarcWriter
from provenance import api
from provenance.base import ids
from provenance.base.report import Report
from provenance.capture import catalog
from provenance.capture import snapshot as capture
from provenance.custody.case import Case
from provenance.custody.stamping import Stamper
from provenance.signing.dsse import parse_envelope, sign_envelope
from provenance.signing.keys import SigningKey
from provenance.signing.statements import IN_TOTO_PAYLOAD

HERE = Path(__file__).resolve().parent
SEED = bytes(range(1, 33))
KEY_NAME = "golden"
TOOL_VERSION = "0.1.0"
CASE_ID = uuid.UUID("6f1c2e8a-4b7d-4c1e-9a3f-2d5b8e7c1a90")
CASE_TITLE = "golden vectors"
NOTE = "golden vectors"

CREATED_AT = datetime(2024, 3, 4, 11, 59, 0, 123456, tzinfo=UTC)
STARTED_AT = datetime(2024, 3, 4, 12, 0, 0, 250000, tzinfo=UTC)
WARCINFO_AT = datetime(2024, 3, 4, 12, 0, 0, 250731, tzinfo=UTC)
EXCHANGE_AT = datetime(2024, 3, 4, 12, 0, 0, 251002, tzinfo=UTC)
ENDED_AT = datetime(2024, 3, 4, 12, 0, 0, 512345, tzinfo=UTC)
LOGGED_AT = datetime(2024, 3, 4, 12, 0, 0, 600001, tzinfo=UTC)
CAPTURE_RANDOM = bytes(range(0xA0, 0xAA))  # the 74 random bits of the UUIDv7 (10 bytes)

WARCINFO_ID = "<urn:uuid:00000000-0000-4000-8000-000000000001>"
SEEDS_ID = "<urn:uuid:00000000-0000-4000-8000-000000000002>"
RESPONSE_ID = "<urn:uuid:00000000-0000-4000-8000-000000000003>"
REQUEST_ID = "<urn:uuid:00000000-0000-4000-8000-000000000004>"
METADATA_ID = "<urn:uuid:00000000-0000-4000-8000-000000000005>"

URL = "https://example.org/article"
IP = "192.0.2.10"
ADDRESSES = ["192.0.2.10", "2001:db8::10"]
CHUNKS = (b"<!DOCTYPE html>\n<title>Golden</title>\n", b"<p>An example page.</p>\n")
RESPONSE_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"Date: Mon, 04 Mar 2024 12:00:00 GMT\r\n"
    b"\r\n"
)
# Seconds on the monotonic clock; binary fractions, so timingsMs is exact everywhere.
TIMINGS = {
    "start": 1000.0,
    "connect": 1000.015625,
    "sent": 1000.03125,
    "first_byte": 1000.0625,
    "end": 1000.125,
}

CERT_START = datetime(2024, 1, 1, tzinfo=UTC)
CERT_END = datetime(2034, 1, 1, tzinfo=UTC)

OUTPUTS = (
    "case",
    "seal.payload.json",
    "entry-0-init.payload.json",
    "entry-1-capture.payload.json",
    "verify-report.json",
    "verify-report-fixity.json",
    "media-availability.record",
    "captures-list.json",
    "captures-find.json",
    "entry-2-change-detected.payload.json",
    "schedule-run.json",
)
# The change vectors: a browser source whose post, loaded by script, changed between a
# capture the day before and the golden capture; its lazy image was not fetched the second time.
BEFORE_ID = "018e0430-a0c0-7000-8000-000000000000"
BEFORE_DIR = f"captures/2024/03/03/{BEFORE_ID}"
RUN_STARTED_AT = datetime(2024, 3, 4, 12, 0, 0, 200000, tzinfo=UTC)
RUN_ENDED_AT = datetime(2024, 3, 4, 12, 0, 0, 700000, tzinfo=UTC)
RENDERED_BEFORE = "Golden\nAn example page.\nI will not accept the result."
RENDERED_AFTER = "Golden\nAn example page.\nI accept the result."
PICTURE_URL = "https://example.org/picture.png"
LAZY_URL = "https://example.org/lazy.png"
POST_URL = "https://platform.example/watch/42"
POST_ANSWER = (
    b"HTTP/1.1 410 Gone\r\n"
    b"Content-Type: application/json\r\n"
    b"Content-Length: 74\r\n"
    b"\r\n"
    b'{"error": {"code": "video_removed", "message": "This video was removed."}}'
)
AVAILABILITY_ID = "<urn:uuid:00000000-0000-4000-8000-000000000006>"
POST_RESPONSE_ID = "<urn:uuid:00000000-0000-4000-8000-000000000007>"


def signing_key() -> SigningKey:
    return SigningKey.from_seed(SEED, KEY_NAME)


def chunked_body() -> bytes:
    out = b"".join(b"%x\r\n%b\r\n" % (len(c), c) for c in CHUNKS)
    return out + b"0\r\n\r\n"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _cert(
    subject: str,
    issuer: str,
    key: Ed25519PrivateKey,
    signer: Ed25519PrivateKey,
    serial: int,
    *,
    ca: bool,
) -> str:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(CERT_START)
        .not_valid_after(CERT_END)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("example.org")]), critical=False
        )
    cert = builder.sign(signer, None)  # Ed25519: deterministic signature, fixed bytes
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def tls_info() -> TlsInfo:
    root_key = Ed25519PrivateKey.from_private_bytes(bytes([0x51]) * 32)
    leaf_key = Ed25519PrivateKey.from_private_bytes(bytes([0x52]) * 32)
    root = _cert("prov golden root", "prov golden root", root_key, root_key, 1, ca=True)
    leaf = _cert("example.org", "prov golden root", leaf_key, root_key, 2, ca=False)
    return TlsInfo(
        version="TLSv1.3",
        cipher="TLS_AES_128_GCM_SHA256",
        server_name="example.org",
        chain_sent_pem=(leaf,),
        verified_path_pem=(leaf, root),
        trust_store="file:golden-root.pem",
        verified=True,
    )


def exchange() -> recorder.Exchange:
    limits = recorder.FetchLimits(user_agent=f"prov/{TOOL_VERSION}")
    request_bytes = recorder.build_request(
        recorder.RequestSpec(URL), h11.Connection(h11.CLIENT), limits, keep_alive=False
    )
    response_bytes = RESPONSE_HEAD + chunked_body()
    body = b"".join(CHUNKS)
    return recorder.Exchange(
        url=URL,
        started_at=EXCHANGE_AT,
        request=Block.of(request_bytes, payload_offset=len(request_bytes)),
        response=Block.of(response_bytes, payload_offset=len(RESPONSE_HEAD)),
        status=200,
        http_version="HTTP/1.1",
        headers=[
            (b"Content-Type", b"text/html; charset=utf-8"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Date", b"Mon, 04 Mar 2024 12:00:00 GMT"),
        ],
        ip=IP,
        port=443,
        addresses=list(ADDRESSES),
        tls=tls_info(),
        decoded_sha256=hashlib.sha256(body).digest(),
        body_bytes=len(body),
        timings=dict(TIMINGS),
    )


def iter_members(data: bytes) -> Iterator[bytes]:
    """The uncompressed bytes of each gzip member (one WARC record each)."""
    while data:
        inflate = zlib.decompressobj(31)
        yield inflate.decompress(data) + inflate.flush()
        data = inflate.unused_data


def build_case(root: Path, stored_warc: bytes | None = None) -> Case:
    """Make the golden case at ``root`` (which must not exist).

    With ``stored_warc`` (the committed WARC file), that file is sealed instead of the one
    just written whenever both hold the same records: see the module docstring on zlib.
    """
    key = signing_key()
    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(uuid, "uuid4", return_value=CASE_ID))
        case = api.init_case(root, CASE_TITLE, key, CREATED_AT)
    capture_id = ids.uuid7(STARTED_AT, CAPTURE_RANDOM)
    relative = capture.capture_dir_for(capture_id, STARTED_AT)
    partial = case.partial_dir / capture_id
    partial.mkdir(parents=True)
    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(capture, "__version__", TOOL_VERSION))
        stack.enter_context(mock.patch.object(capture, "new_record_id", lambda: WARCINFO_ID))
        writer = WarcWriter(
            partial, warcinfo=capture.warcinfo_factory(capture_id, lambda: WARCINFO_AT)
        )
        # The seed list, as provenance.capture.snapshot.snapshot writes it.
        seeds = {"captureId": capture_id, "seeds": [URL], "note": NOTE}
        writer.write_group(
            [
                Record(
                    "metadata",
                    SEEDS_ID,
                    STARTED_AT,
                    json_block(seeds),
                    [("WARC-Target-URI", f"urn:prov:seeds:{capture_id}")],
                    content_type="application/json",
                    with_payload_digest=False,
                )
            ]
        )
        new_ids = iter([RESPONSE_ID, REQUEST_ID, METADATA_ID])
        capturer = Capturer(
            writer, CaptureOptions(), now=lambda: EXCHANGE_AT, new_id=lambda: next(new_ids)
        )
        ex = exchange()
        response_length = ex.response.length if ex.response else 0
        locations = capturer.write_exchange(ex)
        files = writer.close()
        if stored_warc is not None:
            files = [_use_stored(partial, files[0], stored_warc)]
        seal = capture.build_seal(capture_id, relative, STARTED_AT, ENDED_AT, files, key, NOTE,
                                  case_id=case.info.id)
    envelope = sign_envelope(IN_TOTO_PAYLOAD, seal.payload(), key)
    (partial / capture.SEAL_NAME).write_bytes(envelope)
    final = case.root / relative
    final.parent.mkdir(parents=True, exist_ok=True)
    partial.rename(final)
    outcome = UrlOutcome(URL, [Hop(URL, 200, response_length, len(locations))])
    result = capture.CaptureResult(capture_id, relative, [outcome], files)
    capture.log_capture(case, final, result, key, LOGGED_AT, Stamper([]), [])  # no TSA
    return case


def _use_stored(folder: Path, fresh: WarcFile, stored: bytes) -> WarcFile:
    path = folder / fresh.name
    if list(iter_members(path.read_bytes())) != list(iter_members(stored)):
        return fresh  # the records differ: the comparison in the test will say where
    path.write_bytes(stored)
    return dataclasses.replace(fresh, sha256=hashlib.sha256(stored).digest(), size=len(stored))


def golden_report() -> Report:
    """A report with one finding of each status, as `prov verify --json` would print it."""
    report = Report("case", "case", strict=False, kind_reason="case.json at its root")
    report.add(
        "pass", "log.signatures", "custody/log.jsonl", "2 entries signed by keys the log trusts"
    )
    report.add(
        "warn",
        "trust.anchor",
        "custody/log.jsonl",
        "trust anchored only in the case itself: compare the founding key "
        f"{signing_key().key_id} out of band, then pass --trust-id",
    )
    report.add(
        "fail",
        "file.digest",
        "captures/2024/03/04/x/data-00000.warc.gz",
        "file differs from the sealed digest",
        expected="sha256:" + "0" * 64,
        found="sha256:" + "f" * 64,
    )
    report.add("info", "history.remembered", "custody/log.jsonl", "checkpoint of size 2 remembered")
    report.add("skip", "timestamp", "custody/log.jsonl", "no time-stamp tokens to check")
    return report


def golden_fixity_report() -> Report:
    """A passing fixity check of the golden case, after a full verify had passed, as `prov
    verify --fixity --json` prints it (``provenance.verification.case``, "_fixity_report")."""
    from provenance.verification.fixity import NOT_CHECKED

    report = Report("case", "case", strict=False, kind_reason="case.json at its root")
    report.mode = "fixity"
    report.not_checked = list(NOT_CHECKED)
    root = "sha256:" + "ab" * 32
    report.last_full = {"at": "2024-03-05T09:00:00Z", "logSize": 2, "logRoot": root}
    capture = f"captures/2024/03/04/{ids.uuid7(STARTED_AT, CAPTURE_RANDOM)}"
    report.add("pass", "log.signatures", "custody/log.jsonl",
               "2 entries signed by keys the log trusts")
    report.add("pass", "seal.signature", f"{capture}/seal.dsse.json", "signed by golden")
    report.add("pass", "capture", capture,
               "2 sealed files match the seal's digests (records not re-read: fixity)")
    report.add("info", "fixity", "captures", "fixity check: every sealed file's sha256 against "
               "its seal, every signature, the custody log, its checkpoints and the time-stamp "
               "tokens; NOT re-checked: each record's own digests and headers and each seal's "
               "record count and records root (a full `prov verify` checks them)")
    report.add("info", "history.fullVerify", "$PROV_HOME/seen/prov-case/<case id>/"
               "full-verify.json", "the last full verify of this case by this verifier passed "
               "at 2024-03-05T09:00:00Z, over the first 2 entries")
    return report


def render_report(report: Report) -> bytes:
    """The bytes `prov verify --json` writes (json.dumps, indent 2, newline)."""
    return (json.dumps(report.as_json(), indent=2, ensure_ascii=False) + "\n").encode()


def render_json(value: object) -> bytes:
    """The bytes a `--json` listing writes (json.dumps, indent 2, newline)."""
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def availability_record() -> bytes:
    """The ``urn:availability:`` record of a post answered 410, as ``archive.media.capture`` writes
    it (uncompressed: header block, block, closing CRLFs)."""
    from archive.media.availability import classify
    from archive.media.capture import availability_record as record_of

    head = POST_ANSWER.split(b"\r\n\r\n", 1)[0]
    ex = recorder.Exchange(POST_URL, EXCHANGE_AT, status=410, http_version="HTTP/1.1",
                           headers=[(b"Content-Type", b"application/json"),
                                    (b"Content-Length", b"74")])
    ex.response = Block.of(POST_ANSWER, payload_offset=len(head) + 4)
    found = classify(POST_URL, [ex], captured=False,
                     ytdlp_error="ERROR: [generic] 42: Unable to download webpage: HTTP Error "
                                 "410: Gone")
    record = record_of(POST_URL, found, str(ids.uuid7(STARTED_AT, CAPTURE_RANDOM)),
                       POST_RESPONSE_ID, ENDED_AT, AVAILABILITY_ID)
    blocks = b"".join(record.block.iter_chunks())
    return record.header_bytes() + blocks + b"\r\n\r\n"


def golden_files(workdir: Path, stored_warc: bytes | None = None) -> dict[str, bytes]:
    """Every golden file by its path under this folder (``/``-separated)."""
    case = build_case(workdir / "case", stored_warc)
    out: dict[str, bytes] = {}
    for path in sorted(case.root.rglob("*")):
        rel = path.relative_to(case.root).as_posix()
        if path.is_file() and path.name != ".lock" and not rel.startswith("state/"):
            out["case/" + rel] = path.read_bytes()  # state/ is a derived cache: not a format
    lines = case.log_path.read_bytes().splitlines()
    out["entry-0-init.payload.json"] = parse_envelope(lines[0], what="entry 0").payload
    out["entry-1-capture.payload.json"] = parse_envelope(lines[1], what="entry 1").payload
    seal = next(k for k in out if k.endswith("/" + capture.SEAL_NAME))
    out["seal.payload.json"] = parse_envelope(out[seal], what="seal").payload
    out["verify-report.json"] = render_report(golden_report())
    out["verify-report-fixity.json"] = render_report(golden_fixity_report())
    out["media-availability.record"] = availability_record()
    out["captures-list.json"] = render_json([r.as_json() for r in catalog.list_captures(case)])
    out["captures-find.json"] = render_json([r.as_json() for r in catalog.find(case, url=URL)])
    out.update(change_vectors(case, lines))
    return out


def change_vectors(case: Case, lines: list[bytes]) -> dict[str, bytes]:
    """The ``change-detected`` entry `prov schedule run` would log after the golden capture
    (its payload; it is not appended to the case), and that run's `--json` summary."""
    from provenance.base import timefmt
    from provenance.custody.log import file_subject
    from provenance.custody.merkle import TreeBuilder, leaf_hash
    from provenance.signing.statements import Entry, Prev
    from provenance.watch.changes import Fingerprint, compare
    from provenance.watch.schedule import RunResult, change_details

    def sha256(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    seal = next(case.root.glob("captures/*/*/*/*/" + capture.SEAL_NAME))
    folder = seal.parent.relative_to(case.root).as_posix()
    before = Fingerprint(
        BEFORE_ID, BEFORE_DIR, URL, final_url=URL, status=200,
        digest="sha256:" + hashlib.sha256(b"".join(CHUNKS)).hexdigest(),
        content_type="text/html; charset=utf-8", text_sha256=sha256("An example page."),
        text_length=16, title="Golden",
        requisites={PICTURE_URL: "sha256:" + "11" * 32, LAZY_URL: "sha256:" + "22" * 32},
        rendered_sha256="sha256:" + sha256(RENDERED_BEFORE),
        rendered_length=len(RENDERED_BEFORE), at="2024-03-03T12:00:00.200000Z")
    after = dataclasses.replace(
        before, capture_id=folder.rsplit("/", 1)[1], capture_dir=folder,
        requisites={PICTURE_URL: "sha256:" + "11" * 32}, not_fetched=(LAZY_URL,),
        rendered_sha256="sha256:" + sha256(RENDERED_AFTER), rendered_length=len(RENDERED_AFTER),
        at=timefmt.format_time(RUN_STARTED_AT))
    change = compare(before, after)
    tree = TreeBuilder()
    for line in lines:
        tree.append(leaf_hash(line))
    entry = Entry(len(lines), timefmt.format_time(RUN_ENDED_AT), signing_key().key_id,
                  "change-detected", (file_subject(case, seal),), Prev(tree.size, tree.root()),
                  change_details(change, None))
    run = RunResult(timefmt.format_time(RUN_STARTED_AT), timefmt.format_time(RUN_ENDED_AT),
                    due=[URL], captures=[after.capture_id], changes=[change])
    return {"entry-2-change-detected.payload.json": entry.payload(),
            "schedule-run.json": render_json(run.as_json())}


def stored_warc(folder: Path = HERE) -> bytes | None:
    found = sorted((folder / "case").glob("captures/*/*/*/*/data-00000.warc.gz"))
    return found[0].read_bytes() if found else None


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="prov-golden-") as tmp:
        files = golden_files(Path(tmp))
    for name in OUTPUTS:
        target = HERE / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    for name, data in files.items():
        target = HERE / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        print(f"{hashlib.sha256(data).hexdigest()[:16]}  {name}")
    key = signing_key()
    print(f"key {key.key_id} (public {base64.b64encode(key.public.raw).decode()})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
