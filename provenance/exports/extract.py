"""``prov extract``: a response body, a screenshot or a DOM snapshot out of a sealed capture,
verified before it is written (README "Extract"; WARC 1.1 sections 6.3 and 6.4, RFC 9112
section 7.1, RFC 9110 section 8.4).

Threat: the case may have been changed by someone without a trusted key, and whoever reads
the extracted file trusts it as evidence. So nothing is written out unless it verifies:

1. the custody log is replayed from its founding key (``CaseVerifier.trusted_now``): every
   entry signed by a key the log trusts at that point; a failure refuses (exit 3), an anchor
   only in the case itself is a warning the command prints;
2. the capture is logged; its seal has the sha256 the capture entry names and is signed by a
   key trusted when it was logged, for this capture and this case;
3. the WARC file holding the record is read once, start to end, through sha256: the record is
   streamed out as it passes and the file's digest compared with the seal's at the end (one
   pass, so the bytes checked are the bytes written); the record's ``WARC-Block-Digest`` and
   ``WARC-Payload-Digest`` (sha256) are checked too.

The output goes to a hidden file beside ``-o`` and is linked into place only when all of that
passed, and never over an existing file. Memory stays flat: records are streamed in chunks,
bodies decoded as they stream (``archive.chunked``, ``archive.codings``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO

from archive.errors import IntegrityError, ProvError, UsageError, WarcFormatError
from archive.http.codings import CodingError, codings_of, decode_stream
from archive.warc.cdxj import iter_index
from archive.warc.chunked import Dechunker
from archive.warc.members import BOMB
from archive.warc.reader import RecordHead, WarcReader
from provenance.base.digests import sha256_regular
from provenance.base.untrusted import open_regular, read_regular
from provenance.capture.catalog import INDEX_NAME
from provenance.capture.resources import MAX_HTTP_HEAD, parse_http_head
from provenance.custody.case import Case
from provenance.signing.dsse import MAX_ENVELOPE, parse_envelope, verify_envelope
from provenance.signing.statements import IN_TOTO_PAYLOAD, CaptureSeal, Subject
from provenance.signing.trust import Anchors
from provenance.verification.case import CaseVerifier, LoggedEntry

SEAL_NAME = "seal.dsse.json"
KINDS = ("body", "screenshot", "dom")
RESOURCE_URNS = {"screenshot": ("urn:fullPage:", "urn:view:"), "dom": ("urn:dom:",)}


@dataclass
class Extracted:
    """What was written, and what was checked before it was."""

    capture_id: str
    kind: str
    record_uri: str
    file: str
    offset: int
    size: int = 0
    status: int | None = None
    content_type: str = ""
    decoding: str = "as recorded"
    signer: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Wanted:
    kind: str
    uris: tuple[str, ...]  # in order of preference
    raw: bool


class _Hashing:
    """A file read through sha256: every byte the WARC reader takes is hashed."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.digest.update(data)
        return data

    def drain(self) -> bytes:
        while self.read(1 << 20):
            pass
        return self.digest.digest()


def extract(case: Case, capture_prefix: str, url: str, kind: str, out: Path, *,
            anchors: Anchors, raw: bool = False) -> Extracted:
    """Write ``kind`` (``KINDS``) of ``url`` in the capture named by ``capture_prefix`` to
    ``out`` (which must not exist), after verifying it; nothing is written on any failure."""
    _check_output(out)
    wanted = _Wanted(kind, tuple(p + url for p in RESOURCE_URNS[kind]) if kind != "body"
                     else (url,), raw)
    verifier = CaseVerifier(case.root, anchors, remember=False)
    verifier.trusted_now(case)
    verifier.judge.check_anchor(anchors, "custody/log.jsonl", "case")
    failed = [f for f in verifier.report.findings if f.status == "fail"]
    if failed:
        raise IntegrityError(f"the custody log does not verify ({failed[0].subject}: "
                             f"{failed[0].message}): nothing extracted",
                             hint="run `prov verify` to see every finding")
    warnings = [f.message for f in verifier.report.findings if f.status == "warn"]
    logged, subject = _logged_capture(verifier.log.entries, capture_prefix)
    folder = subject.name.rsplit("/", 1)[0]
    case.fetch_captures([folder])
    seal, signer = _verified_seal(case, folder, subject, logged)
    name, offset = _locate(case.root / folder, seal, wanted, url)
    done = Extracted(seal.capture_id, kind, "", name, offset, signer=signer, warnings=warnings)
    _write_verified(case.root / folder, name, seal, wanted, done, out)
    return done


def _check_output(out: Path) -> None:
    if os.path.lexists(out):
        raise UsageError(f"-o {out}: already exists (extract never overwrites)")
    if not out.parent.is_dir():
        raise UsageError(f"-o {out}: the folder {out.parent} does not exist")


def _logged_capture(entries: Iterable[LoggedEntry], prefix: str) -> tuple[LoggedEntry, Subject]:
    found = []
    for logged in entries:
        seal = next((s for s in logged.entry.subjects if s.name.endswith("/" + SEAL_NAME)),
                    None)
        capture_id = str(logged.entry.details.get("captureId", ""))
        if logged.entry.action == "capture" and seal and capture_id.startswith(prefix.lower()):
            found.append((logged, seal))
    if len(found) != 1:
        raise UsageError(f"capture {prefix!r}: {len(found)} logged captures match",
                         hint="`prov captures list` shows them; give more of the id")
    return found[0]


def _verified_seal(case: Case, folder: str, subject: Subject,
                   logged: LoggedEntry) -> tuple[CaptureSeal, str]:
    rel = f"{folder}/{SEAL_NAME}"
    try:
        data = read_regular(case.root / rel, MAX_ENVELOPE, what=rel)
    except ProvError as exc:
        raise IntegrityError(f"the seal of capture {folder.rsplit('/', 1)[1]} cannot be read "
                             f"({exc}): nothing extracted", hint="run `prov verify`") from None
    if hashlib.sha256(data).digest() != subject.sha256:
        raise IntegrityError(f"the seal of capture {folder.rsplit('/', 1)[1]} was changed after "
                             "it was logged: nothing extracted", hint="run `prov verify`")
    try:
        envelope = parse_envelope(data, what=rel)
        signer = verify_envelope(envelope, payload_type=IN_TOTO_PAYLOAD,
                                 trusted=logged.trusted, what=rel)
        seal = CaptureSeal.parse(envelope.payload, what=rel)
    except ProvError as exc:
        raise IntegrityError(f"the seal does not verify ({exc}): nothing extracted",
                             hint="run `prov verify`") from None
    sealed_for = logged.entry.details.get("sealedFor") or case.info.id
    if (seal.capture_dir, seal.case_id) != (folder, sealed_for):
        raise IntegrityError(f"{rel}: the seal belongs to another capture or case: nothing "
                             "extracted", hint="run `prov verify`")
    return seal, signer


def _locate(folder: Path, seal: CaptureSeal, wanted: _Wanted, url: str) -> tuple[str, int]:
    """(file, offset) of the record to write: the last of the preferred URI. The sealed
    index is used if its digest is the seal's (checked as it is read, before its answer is
    used); a capture without one is scanned."""
    sealed = {s.name: s.sha256 for s in seal.subjects}
    places: dict[str, list[tuple[str, int]]] = {uri: [] for uri in wanted.uris}
    if INDEX_NAME in sealed:
        digest = hashlib.sha256()
        with open(open_regular(folder / INDEX_NAME, what=INDEX_NAME), "rb") as fh:
            for entry in iter_index(fh, folder / INDEX_NAME, digest.update):
                if entry.url in places:
                    places[entry.url].append((entry.filename, entry.offset))
        if digest.digest() != sealed[INDEX_NAME]:
            raise IntegrityError(f"{INDEX_NAME} of capture {seal.capture_id} was altered after "
                                 "it was sealed: nothing extracted", hint="run `prov verify`")
    else:
        for name in sorted(n for n in sealed if n in seal.records):
            with open(open_regular(folder / name, what=name), "rb") as fh:
                for head in WarcReader(fh):
                    uri = head.get("WARC-Target-URI") or ""
                    if uri in places and _record_kind(head, wanted.kind):
                        places[uri].append((name, head.offset))
    for uri in wanted.uris:
        if places[uri]:
            return max(places[uri])
    what = {"body": "no response", "screenshot": "no screenshot", "dom": "no DOM snapshot"}
    raise UsageError(f"capture {seal.capture_id} holds {what[wanted.kind]} of {url}",
                     hint="`prov captures find URL` lists what each capture holds")


def _record_kind(head: RecordHead, kind: str) -> bool:
    types = ("response", "revisit") if kind == "body" else ("resource",)
    return head.warc_type in types


def _write_verified(folder: Path, name: str, seal: CaptureSeal, wanted: _Wanted,
                    done: Extracted, out: Path) -> None:
    sealed = next(s.sha256 for s in seal.subjects if s.name == name)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        try:
            digest = _copy_record(folder / name, tmp, wanted, done, bounded=True)
        except WarcFormatError as exc:
            if BOMB not in str(exc) or sha256_regular(folder / name, what=name) != sealed:
                raise IntegrityError(f"{seal.capture_dir}/{name} was altered after it was "
                                     f"sealed (it is no longer a readable WARC: {exc}): nothing "
                                     "extracted", hint="run `prov verify`") from None
            # the sealed bytes, however compressible: read again without the bound (and
            # hashed again on the way, so the bytes written are still the bytes checked)
            digest = _copy_record(folder / name, tmp, wanted, done, bounded=False)
        if digest != sealed:
            raise IntegrityError(f"{seal.capture_dir}/{name} was altered after it was sealed "
                                 "(its sha256 differs from the seal's): nothing extracted",
                                 hint="run `prov verify` to see which records changed")
        if not done.record_uri:  # the sealed file, so the located place was wrong
            raise IntegrityError(f"{name}: no record of {wanted.uris[0]} at offset "
                                 f"{done.offset}: nothing extracted", hint="run `prov verify`")
        try:
            os.link(tmp, out)
        except FileExistsError:
            raise UsageError(f"-o {out}: already exists (extract never overwrites)") from None
    except CodingError as exc:
        raise UsageError(f"the recorded body cannot be decoded: {exc}; nothing extracted",
                         hint="--raw writes the body as recorded, codings and all") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _copy_record(path: Path, tmp: Path, wanted: _Wanted, done: Extracted, *,
                 bounded: bool) -> bytes:
    """Read ``path`` start to end through sha256, writing the wanted record's part to
    ``tmp`` (made new, fsynced); the file's sha256."""
    done.record_uri, done.size = "", 0
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), "wb") as sink:
        with open(open_regular(path, what=path.name), "rb") as fh:
            hashing = _Hashing(fh)
            reader = WarcReader(hashing, bounded=bounded)  # type: ignore[arg-type]
            for head in reader:
                if head.offset == done.offset and not done.record_uri and _is_wanted(
                        head, wanted, done):
                    _write_record(head, reader.iter_block(), wanted, done, sink)
            digest = hashing.drain()
        sink.flush()
        os.fsync(sink.fileno())
    return digest


def _is_wanted(head: RecordHead, wanted: _Wanted, done: Extracted) -> bool:
    """The record located is the one asked for (if not, the file was changed after it was
    located: its digest, checked at the end, says so)."""
    uri = head.get("WARC-Target-URI") or ""
    if uri not in wanted.uris or not _record_kind(head, wanted.kind):
        return False
    if head.warc_type == "revisit":
        raise UsageError(
            f"capture {done.capture_id} holds a revisit of {uri}: the body was unchanged and "
            f"is stored once, in the capture of {head.get('WARC-Refers-To-Date') or '?'}",
            hint=f"`prov captures find {uri}` names that capture; extract from it")
    done.record_uri = uri
    done.content_type = head.get("Content-Type") or ""
    return True


def _write_record(head: RecordHead, chunks: Iterator[bytes], wanted: _Wanted,
                  done: Extracted, sink: IO[bytes]) -> None:
    """Stream the block, checking its digests, writing the part asked for."""
    block = hashlib.sha256()
    payload = hashlib.sha256()

    def hashed() -> Iterator[bytes]:
        for chunk in chunks:
            block.update(chunk)
            yield chunk

    if head.warc_type == "resource":
        parts: Iterator[bytes] = hashed()
        on_payload: Callable[[bytes], None] = payload.update
    else:
        parts = _http_body(hashed(), done, payload.update, wanted.raw)
        on_payload = _ignore
    for piece in parts:
        on_payload(piece)
        sink.write(piece)
        done.size += len(piece)
    _compare(head, "WARC-Block-Digest", block.hexdigest(), done)
    _compare(head, "WARC-Payload-Digest", payload.hexdigest(), done)


def _ignore(data: bytes) -> None:
    pass


def _compare(head: RecordHead, name: str, found: str, done: Extracted) -> None:
    for value in head.get_all(name):
        label, _, digest = value.strip().partition(":")
        if label.lower() == "sha256" and digest.lower() != found:
            raise IntegrityError(f"the archived record of {done.record_uri} was altered after "
                                 f"it was sealed (it does not match its {name}; {done.file} "
                                 f"at offset {done.offset}): nothing extracted",
                                 hint="run `prov verify`")


def _http_body(chunks: Iterator[bytes], done: Extracted, on_payload: Callable[[bytes], None],
               raw: bool) -> Iterator[bytes]:
    """The body of an HTTP response block: as recorded, or transfer- and content-decoded."""
    head = b""
    body: Iterator[bytes] = iter(())
    for chunk in chunks:
        head += chunk
        end = head.find(b"\r\n\r\n")
        if end >= 0 or len(head) > MAX_HTTP_HEAD:
            end = end + 4 if end >= 0 else len(head)
            body = _chain(head[end:], chunks)
            head = head[:end]
            break
    status, headers = parse_http_head(head)
    done.status = status
    fields = {k.lower(): v for k, v in reversed(headers)}
    done.content_type = fields.get("content-type", "")

    def recorded() -> Iterator[bytes]:
        for piece in body:
            on_payload(piece)
            yield piece

    if raw:
        done.decoding = "as recorded (HTTP headers removed, codings kept)"
        return recorded()
    transfer = codings_of(fields.get("transfer-encoding"))
    content = codings_of(fields.get("content-encoding"))
    chunked = bool(transfer) and transfer[-1] == "chunked"
    codings = content + transfer[:-1 if chunked else None]
    steps = (["transfer-decoded (chunked)"] if chunked else []) + (
        [f"content-decoded ({', '.join(codings)})"] if codings else [])
    done.decoding = ", ".join(steps) or "as sent (no transfer or content coding)"
    stream = _dechunk(recorded()) if chunked else recorded()
    return decode_stream(stream, codings) if codings else stream


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _dechunk(chunks: Iterator[bytes]) -> Iterator[bytes]:
    dechunker = Dechunker()
    for chunk in chunks:
        out = dechunker.feed(chunk)
        if dechunker.error:
            raise CodingError(f"chunked framing damaged ({dechunker.error})")
        if out:
            yield out
    if not dechunker.done:
        raise CodingError("the chunked body is cut short (the capture stopped, or the server did)")
