"""The custody log's signatures checked by worker processes: never a pass that the serial
replay would not give (provenance.verification.signatures, CaseVerifier's judging again)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from provenance import api
from provenance.base import timefmt
from provenance.custody.case import Case
from provenance.custody.log import CustodyLog, NewEntry
from provenance.signing.dsse import pae, sign_envelope
from provenance.signing.keys import PublicKey, SigningKey, verify_batch
from provenance.signing.statements import CUSTODY_PAYLOAD
from provenance.signing.trust import Anchors
from provenance.verification import case as case_module
from provenance.verification.case import CaseVerifier
from provenance.verification.signatures import DeferredSignatures


@pytest.fixture(autouse=True)
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROV_HOME", str(tmp_path / "home"))


def signed(key: SigningKey, message: bytes) -> tuple[bytes, bytes, bytes]:
    return key.public.raw, key.sign(message), message


def test_a_batch_names_each_signature_that_does_not_verify() -> None:
    a, b = SigningKey.generate("a"), SigningKey.generate("b")
    items = [signed(a, b"one"), signed(b, b"two"), signed(a, b"three")]
    forged = (a.public.raw, b.sign(b"four"), b"four")  # b's signature under a's key
    assert verify_batch(items) == []
    assert verify_batch([*items, forged, (a.public.raw, items[0][1], b"changed")]) == [3, 4]


def test_deferred_signatures_pass_only_when_every_one_verified(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from provenance.verification import signatures

    monkeypatch.setattr(signatures, "BATCH", 3)  # several batches, some in flight at once
    key = SigningKey.generate("a")
    good = DeferredSignatures(2)
    try:
        for i in range(20):
            good.add(key.public, key.sign(b"%d" % i), b"%d" % i)
        assert good.all_valid()
    finally:
        good.close()
    bad = DeferredSignatures(2)
    try:
        for i in range(20):
            bad.add(key.public, key.sign(b"%d" % i), b"%d" % (i if i != 13 else 99))
        assert not bad.all_valid()
    finally:
        bad.close()


def test_a_batch_that_raises_in_its_worker_is_never_a_pass() -> None:
    key = SigningKey.generate("a")
    broken = DeferredSignatures(2)
    try:
        # a key that does not load makes the worker raise, not answer "verified"
        broken.add(PublicKey(b"x" * 31), key.sign(b"message"), b"message")
        assert not broken.all_valid()
    finally:
        broken.close()


def grown_case(tmp_path: Path) -> tuple[Path, SigningKey]:
    """A case whose founding key trusted a second key, which then appended entries."""
    founder, second = SigningKey.generate("founder"), SigningKey.generate("second")
    root = tmp_path / "case"
    case = api.init_case(root, "signatures", founder, timefmt.utc_now())
    log = CustodyLog(Case.load(root))
    details = {"keyId": second.public.key_id,
               "publicKey": base64.b64encode(second.public.raw).decode()}
    with case.lock():
        log.append([NewEntry("note", (), {"note": f"by the founder {i}"}) for i in range(5)],
                   founder, timefmt.utc_now())
        log.append([NewEntry("key-trusted", (), details)], founder, timefmt.utc_now())
        log.append([NewEntry("note", (), {"note": f"by the second key {i}"}) for i in range(5)],
                   second, timefmt.utc_now())
    return root, founder


def forge_line(root: Path, action: str, attacker: SigningKey) -> None:
    """Re-sign the first entry of ``action`` with ``attacker``, keeping the signer's key id."""
    log = root / "custody" / "log.jsonl"
    lines = log.read_bytes().splitlines()
    for i, line in enumerate(lines):
        envelope: dict[str, Any] = json.loads(line)
        payload = base64.b64decode(envelope["payload"])
        if json.loads(payload)["action"] == action:
            keyid = envelope["signatures"][0]["keyid"]
            forged = json.loads(sign_envelope(CUSTODY_PAYLOAD, payload, attacker))
            forged["signatures"][0]["keyid"] = keyid
            lines[i] = json.dumps(forged, separators=(",", ":"), sort_keys=True).encode()
            break
    else:
        raise AssertionError(f"no {action} entry")
    log.write_bytes(b"\n".join(lines) + b"\n")


def verified(root: Path, founder: SigningKey, parallel: bool, monkeypatch: pytest.MonkeyPatch,
             *, again: bool = False) -> list[tuple[str, str, str, str]]:
    """The findings of verify; ``again``: whether it had to judge the log again in place."""
    monkeypatch.setattr(case_module, "PARALLEL_LOG_BYTES", 0 if parallel else 1 << 40)
    anchors = Anchors.collect([], [founder.public.key_id], target=root)
    verifier = CaseVerifier(root, anchors, remember=False, jobs=2)
    report = verifier.run()
    assert verifier.serial_signatures is again
    return [(f.status, f.check, f.subject, f.message) for f in report.findings]


def test_an_intact_log_checked_by_workers_gives_the_serial_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, founder = grown_case(tmp_path)
    serial = verified(root, founder, False, monkeypatch)
    assert verified(root, founder, True, monkeypatch) == serial
    assert not [f for f in serial if f[0] == "fail"]


@pytest.mark.parametrize("action", ["key-trusted", "note"])
def test_a_forged_signature_checked_by_workers_gives_the_serial_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, action: str) -> None:
    """A forged ``key-trusted`` entry would trust the second key if the replay believed it:
    judged again in place, the entries signed by that key fail as they do serially."""
    root, founder = grown_case(tmp_path)
    forge_line(root, action, SigningKey.generate("attacker"))
    serial = verified(root, founder, False, monkeypatch)
    parallel = verified(root, founder, True, monkeypatch, again=True)
    assert parallel == serial
    refused = [f for f in serial if f[1] == "log.entry"]
    assert refused and "does not verify" in refused[0][3]
    if action == "key-trusted":  # and every entry of the key it tried to trust
        assert sum("not a trusted key" in f[3] for f in refused) == 5


def test_pae_is_what_a_deferred_signature_signs() -> None:
    key = SigningKey.generate("a")
    line = sign_envelope(CUSTODY_PAYLOAD, b"{}", key)
    sig = base64.b64decode(json.loads(line)["signatures"][0]["sig"])
    assert verify_batch([(key.public.raw, sig, pae(CUSTODY_PAYLOAD, b"{}"))]) == []
