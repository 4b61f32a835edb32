"""Golden vectors: prov's formats byte for byte, and published vectors of the specs it uses.

``tests/data/golden/`` holds files made from a fixed key, clock and ids by
``tests/data/golden/regen.py`` (run it only when a format changes on purpose). Each is rebuilt
here and compared byte for byte. Alongside: the C2SP signed-note example
(golang.org/x/mod/sumdb/note, key PeterNeumann), the DSSE protocol's PAE example, the
records-root and checkpoint-root recipes of docs/FORMATS.md (hashlib only), and the shape of
the verify report (schema ``prov/verify-report/v1``). RFC 9162 roots are in test_merkle.py.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from archive.errors import ExitCode
from provenance import api
from provenance.base.report import SCHEMA, STATUSES
from provenance.cli.render import verify_table
from provenance.custody.checkpoint import (
    Checkpoint,
    key_hint,
    read_unverified,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
    verify_note,
)
from provenance.custody.log import checkpoint_rel
from provenance.errors import SignatureError
from provenance.signing.dsse import Envelope, pae, parse_envelope, sign_envelope, verify_envelope
from provenance.signing.keys import PublicKey, SigningKey
from provenance.signing.statements import (
    CUSTODY_PAYLOAD,
    IN_TOTO_PAYLOAD,
    CaptureSeal,
    Entry,
)

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"


def _load_regen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("golden_regen", GOLDEN / "regen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


regen = _load_regen()
STORED = {
    p.relative_to(GOLDEN).as_posix(): p.read_bytes()
    for p in sorted(GOLDEN.rglob("*"))
    if p.is_file() and p.name != "regen.py" and "__pycache__" not in p.parts
}
WARC_NAME = next(n for n in STORED if n.endswith(".warc.gz"))
SEAL_NAME = next(n for n in STORED if n.endswith("/seal.dsse.json"))
LOG_NAME = "case/custody/log.jsonl"
CKPT_NAME = "case/" + checkpoint_rel(2)


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return dict(regen.golden_files(tmp_path_factory.mktemp("golden"), STORED[WARC_NAME]))


@pytest.fixture(scope="module")
def fresh_warc(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The WARC as this machine's zlib writes it (not replaced by the stored one)."""
    files = regen.golden_files(tmp_path_factory.mktemp("golden-fresh"))
    return bytes(files[WARC_NAME])


@pytest.fixture
def key() -> SigningKey:
    return regen.signing_key()


# -- prov's own formats, byte for byte ------------------------------------------------------


def test_the_golden_set_is_complete(rebuilt: dict[str, bytes]) -> None:
    assert sorted(rebuilt) == sorted(STORED)


@pytest.mark.parametrize("name", [n for n in STORED if n != WARC_NAME])
def test_file_is_rebuilt_byte_for_byte(name: str, rebuilt: dict[str, bytes]) -> None:
    assert rebuilt[name] == STORED[name], (
        f"{name} changed: run tests/data/golden/regen.py only if the format changed on purpose"
    )


def test_warc_records_are_rebuilt_byte_for_byte(fresh_warc: bytes) -> None:
    fresh = list(regen.iter_members(fresh_warc))
    stored = list(regen.iter_members(STORED[WARC_NAME]))
    assert [r.split(b"\r\n", 2)[1] for r in stored] == [
        b"WARC-Type: warcinfo",
        b"WARC-Type: metadata",
        b"WARC-Type: request",
        b"WARC-Type: response",
        b"WARC-Type: metadata",
    ]
    assert fresh == stored


def test_warc_file_is_rebuilt_byte_for_byte(fresh_warc: bytes) -> None:
    if fresh_warc != STORED[WARC_NAME]:
        pytest.skip(
            f"zlib {zlib.ZLIB_RUNTIME_VERSION} deflates differently from the zlib that "
            "made the vector (records are compared uncompressed above)"
        )
    assert fresh_warc == STORED[WARC_NAME]


def test_one_gzip_member_per_record() -> None:
    data = STORED[WARC_NAME]
    for record in regen.iter_members(data):
        assert record.startswith(b"WARC/1.1\r\n")
        assert record.endswith(b"\r\n\r\n")
        head, _, block = record[:-4].partition(b"\r\n\r\n")
        length = int(
            next(line for line in head.split(b"\r\n") if line.startswith(b"Content-Length: "))[16:]
        )
        assert len(block) == length


def test_payload_digest_keeps_chunk_framing_and_decoded_digest_does_not() -> None:
    records = list(regen.iter_members(STORED[WARC_NAME]))
    response, metadata = records[3], records[4]
    head, _, block = response[:-4].partition(b"\r\n\r\n")
    payload = block.partition(b"\r\n\r\n")[2]
    assert payload == regen.chunked_body()
    assert f"WARC-Payload-Digest: sha256:{hashlib.sha256(payload).hexdigest()}".encode() in head
    meta = json.loads(metadata[:-4].partition(b"\r\n\r\n")[2])
    decoded = b"".join(regen.CHUNKS)
    assert meta["decodedBodySha256"] == "sha256:" + hashlib.sha256(decoded).hexdigest()
    assert meta["decodedBodyLength"] == len(decoded)
    assert meta["timingsMs"] == {"connect": 15.625, "sent": 31.25, "first_byte": 62.5, "end": 125.0}


@pytest.mark.parametrize(
    "name, kind",
    [
        ("seal.payload.json", CaptureSeal),
        ("entry-0-init.payload.json", Entry),
        ("entry-1-capture.payload.json", Entry),
        ("entry-2-change-detected.payload.json", Entry),
    ],
)
def test_payloads_parse_and_serialise_back_to_the_same_bytes(name: str, kind: type) -> None:
    assert kind.parse(STORED[name], what=name).payload() == STORED[name]


def test_seal_envelope_is_signed_by_the_golden_key(key: SigningKey) -> None:
    envelope = parse_envelope(STORED[SEAL_NAME], what="seal")
    assert envelope.payload == STORED["seal.payload.json"]
    assert (
        verify_envelope(
            envelope, payload_type=IN_TOTO_PAYLOAD, trusted={key.key_id: key.public}, what="seal"
        )
        == key.key_id
    )
    # Ed25519 is deterministic: signing the payload again gives the stored bytes.
    assert sign_envelope(IN_TOTO_PAYLOAD, envelope.payload, key) == STORED[SEAL_NAME]
    assert not STORED[SEAL_NAME].endswith(b"\n")


def test_log_lines_are_envelopes_of_the_entry_payloads(key: SigningKey) -> None:
    lines = STORED[LOG_NAME].split(b"\n")
    assert lines[-1] == b""
    names = ["entry-0-init.payload.json", "entry-1-capture.payload.json"]
    for line, name in zip(lines[:-1], names, strict=True):
        envelope = parse_envelope(line, what=name)
        verify_envelope(
            envelope, payload_type=CUSTODY_PAYLOAD, trusted={key.key_id: key.public}, what=name
        )
        assert envelope.payload == STORED[name]
        assert sign_envelope(CUSTODY_PAYLOAD, STORED[name], key) == line


def test_checkpoint_is_a_signed_note_over_the_log(key: SigningKey) -> None:
    origin = json.loads(STORED["case/case.json"])["origin"]
    checkpoint, signer = verify_checkpoint(STORED[CKPT_NAME], origin, [key.public], what="ckpt")
    assert signer == key.public
    assert checkpoint.size == 2
    assert sign_checkpoint(Checkpoint(origin, 2, checkpoint.root), key) == STORED[CKPT_NAME]


def test_case_json_is_bound_by_the_init_entry() -> None:
    entry = json.loads(STORED["entry-0-init.payload.json"])
    assert entry["subjects"] == [
        {"path": "case.json", "sha256": hashlib.sha256(STORED["case/case.json"]).hexdigest()}
    ]


def test_golden_case_verifies(tmp_path: Path, prov_home: Path, key: SigningKey) -> None:
    case = tmp_path / "case"
    shutil.copytree(GOLDEN / "case", case)
    report = api.verify(case, trust_ids=[key.key_id])
    assert report.counts["fail"] == 0, verify_table(report)
    assert {f.check for f in report.findings if f.status == "pass"} >= {
        "log.signatures",
        "trust.anchor",
        "checkpoint",
        "seal.signature",
        "capture",
    }


# -- the recipes in docs/FORMATS.md (hashlib and zlib only, no prov code) -------------------


def _members(data: bytes) -> Iterator[bytes]:  # one gzip member per WARC record
    while data:
        inflate = zlib.decompressobj(31)
        yield inflate.decompress(data)
        data = inflate.unused_data


def _leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _mth(hashes: list[bytes]) -> bytes:  # RFC 9162 section 2.1.1, over leaf hashes
    if len(hashes) <= 1:
        return hashes[0] if hashes else hashlib.sha256(b"").digest()
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _mth(hashes[:k]) + _mth(hashes[k:])).digest()


def test_records_root_recipe_matches_the_seal() -> None:
    seal = json.loads(STORED["seal.payload.json"])
    leaves = [_leaf(r) for r in _members(STORED[WARC_NAME])]
    assert "sha256:" + _mth(leaves).hex() == seal["predicate"]["recordsRoot"]
    assert seal["subject"][0]["digest"]["sha256"] == hashlib.sha256(STORED[WARC_NAME]).hexdigest()


def test_checkpoint_root_recipe_matches_the_checkpoint() -> None:
    lines = STORED[LOG_NAME].split(b"\n")[:-1]
    text = STORED[CKPT_NAME].split(b"\n\n")[0].decode().split("\n")
    assert int(text[1]) == len(lines)
    assert base64.b64decode(text[2]) == _mth([_leaf(line) for line in lines])
    assert read_unverified(STORED[CKPT_NAME], what="ckpt").root == base64.b64decode(text[2])


def test_prev_names_the_checkpoint_before_the_entry() -> None:
    first_line = STORED[LOG_NAME].split(b"\n")[0]
    prev = json.loads(STORED["entry-1-capture.payload.json"])["prev"]
    assert prev == {"size": 1, "root": "sha256:" + _leaf(first_line).hex()}


# -- published vectors ----------------------------------------------------------------------

# c2sp.org/signed-note and golang.org/x/mod/sumdb/note: the PeterNeumann example key.
NOTE_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
NOTE_TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
NOTE_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXg"
    "KvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def _note_key() -> SigningKey:
    _, _, name, hint, material = NOTE_SKEY.split("+", 4)
    raw = base64.b64decode(material)
    assert raw[0] == 0x01 and len(raw) == 33  # algorithm byte (Ed25519), then the seed
    key = SigningKey.from_seed(raw[1:], name)
    assert key_hint(name, key.public).hex() == hint
    return key


def test_c2sp_signed_note_example_signs_byte_for_byte() -> None:
    note = sign_note(NOTE_TEXT, "PeterNeumann", _note_key())
    assert note == NOTE_TEXT + b"\n" + NOTE_SIG.encode()


def test_c2sp_signed_note_example_verifies() -> None:
    key = _note_key()
    note = NOTE_TEXT + b"\n" + NOTE_SIG.encode()
    text, signer = verify_note(note, "PeterNeumann", [key.public], what="note")
    assert text == NOTE_TEXT and signer == key.public


@pytest.mark.parametrize(
    "old, new",
    [
        (b"problem,", b"problem;"),  # the text
        (b"x08go", b"x08gO"),  # the key hint
        (b"LLr8pAc", b"LLr9pAc"),  # the signature
    ],
)
def test_c2sp_signed_note_one_character_changed_fails(old: bytes, new: bytes) -> None:
    note = NOTE_TEXT + b"\n" + NOTE_SIG.encode()
    assert note.count(old) == 1
    with pytest.raises(SignatureError) as caught:
        verify_note(note.replace(old, new), "PeterNeumann", [_note_key().public], what="note")
    assert caught.value.exit_code == ExitCode.INTEGRITY


def test_dsse_pae_matches_the_protocol_example() -> None:
    # github.com/secure-systems-lab/dsse, protocol.md, "Test Vectors".
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


# github.com/secure-systems-lab/dsse testvectors/vectors.json, "single-signature": key A is
# the RFC 8032 section 7.1 TEST 1 key; Ed25519 is deterministic, so the signature is exact.
DSSE_SEED_A = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
DSSE_PAYLOAD = b'{"_type":"https://in-toto.io/Statement/v1"}'
DSSE_SIG = (
    "2WAfaHm5jluo0w+0rk8uVkluELJYWjSmU9x7EUzx+AyteDGJ4/nqyJXfmAUVFIAoQafWm7AxBZNw5M9ixNHiCA=="
)


def test_dsse_single_signature_vector() -> None:
    key = SigningKey.from_seed(DSSE_SEED_A, "A")
    assert key.public.raw.hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )
    message = pae(IN_TOTO_PAYLOAD, DSSE_PAYLOAD)
    assert message.hex().startswith("445353457631203238206170706c69636174696f6e2f")
    assert base64.b64encode(key.sign(message)).decode() == DSSE_SIG
    envelope = Envelope(IN_TOTO_PAYLOAD, DSSE_PAYLOAD, (("A", base64.b64decode(DSSE_SIG)),))
    assert (
        verify_envelope(
            envelope, payload_type=IN_TOTO_PAYLOAD, trusted={"A": key.public}, what="vector"
        )
        == "A"
    )


def test_dsse_payload_type_swapped_is_rejected() -> None:
    public = SigningKey.from_seed(DSSE_SEED_A, "A").public
    other = "application/vnd.example.other+json"
    swapped = Envelope(other, DSSE_PAYLOAD, (("A", base64.b64decode(DSSE_SIG)),))
    with pytest.raises(SignatureError):
        verify_envelope(swapped, payload_type=other, trusted={"A": public}, what="vector")


# -- the verify report: schema prov/verify-report/v1 ----------------------------------------

REPORT_KEYS = {
    "schema": str,
    "target": str,
    "kind": str,
    "kindReason": str,
    "strict": bool,
    "mode": str,
    "notChecked": list,
    "result": str,
    "exitCode": int,
    "counts": dict,
    "findings": list,
    "omitted": list,
}
FINDING_KEYS = {"status": str, "check": str, "subject": str, "message": str}
FINDING_OPTIONAL = {"expected": str, "found": str}


def test_verify_report_json_shape() -> None:
    doc = json.loads(STORED["verify-report.json"])
    assert set(doc) == set(REPORT_KEYS)
    for name, kind in REPORT_KEYS.items():
        assert type(doc[name]) is kind, name
    assert doc["schema"] == SCHEMA == "prov/verify-report/v1"
    assert doc["result"] in ("pass", "fail")
    assert (doc["result"], doc["exitCode"]) == ("fail", ExitCode.INTEGRITY)
    assert list(doc["counts"]) == list(STATUSES) == ["pass", "fail", "warn", "info", "skip"]
    assert all(type(v) is int for v in doc["counts"].values())
    assert doc["counts"] == {s: 1 for s in STATUSES}
    for finding in doc["findings"]:
        assert set(FINDING_KEYS) <= set(finding) <= set(FINDING_KEYS) | set(FINDING_OPTIONAL)
        for name, kind in (FINDING_KEYS | FINDING_OPTIONAL).items():
            if name in finding:
                assert type(finding[name]) is kind, name
        assert finding["status"] in STATUSES
    with_values = [f for f in doc["findings"] if "expected" in f]
    assert [f["check"] for f in with_values] == ["file.digest"]
    assert (doc["mode"], doc["notChecked"]) == ("full", [])  # a full verify skips nothing
    assert "lastFullVerify" not in doc


def test_verify_report_fixity_json_shape() -> None:
    """`verify --fixity`: the same schema, its mode, what it did not re-check, and the
    verifier's last full verify (present only when one is recorded)."""
    from provenance.verification.fixity import NOT_CHECKED

    doc = json.loads(STORED["verify-report-fixity.json"])
    keys = list(REPORT_KEYS)
    assert list(doc) == [*keys[: keys.index("result")], "lastFullVerify",
                         *keys[keys.index("result"):]]
    assert doc["schema"] == "prov/verify-report/v1"
    assert (doc["mode"], doc["result"], doc["exitCode"]) == ("fixity", "pass", 0)
    assert doc["notChecked"] == list(NOT_CHECKED)
    assert {"record.blockDigest", "record.payloadDigest", "seal.recordsRoot"} <= set(
        doc["notChecked"])
    last = doc["lastFullVerify"]
    assert list(last) == ["at", "logSize", "logRoot"]
    assert type(last["at"]) is str and type(last["logSize"]) is int
    assert last["logRoot"].startswith("sha256:") and len(last["logRoot"]) == 71
    assert [f["check"] for f in doc["findings"] if f["status"] == "info"] == [
        "fixity", "history.fullVerify"]


def test_public_key_of_the_golden_seed(key: SigningKey) -> None:
    pem = STORED[f"case/keys/{key.key_id.split(':', 1)[1]}.pub"]
    assert PublicKey.from_pem(pem) == key.public
    assert key.key_id == "ed25519:" + hashlib.sha256(key.public.raw).hexdigest()
