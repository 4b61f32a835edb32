"""`prov export wacz` end to end: WACZ 1.1.1 checked by py-wacz (`wacz validate`) and by
hand (pages.jsonl, which py-wacz does not check), the WACZ signing spec's anonymous signature
checked independently (raw r||s over the UTF-8 hash string, as WebCrypto), `prov verify` on
the package in place, tampered packages, revisit originals, the gate, and replay in
ReplayWeb.page 2.5.3 in Chromium.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from exports import Built, build, entries
from helpers import run_prov
from tsa import LocalTSA

from provenance.signing.dsse import pae, parse_envelope

BIN = Path(sys.executable).parent
CACHE = Path(__file__).parents[1] / ".cache" / "replaywebpage-2.5.3"
EXIT_OK, EXIT_USAGE, EXIT_INTEGRITY = 0, 2, 3
TITLE = "When the post disappears: keeping election content as evidence"  # the demo article


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    with LocalTSA(key="ec") as tsa:
        yield build(tmp_path_factory.mktemp("wacz"), tsa)


@pytest.fixture(scope="module")
def wacz(built: Built) -> Path:
    out = built.root / "all.wacz"
    proc = built.prov("export", "wacz", "--case", str(built.case), "-o", str(out))
    assert proc.returncode == EXIT_OK, proc.stderr  # type: ignore[attr-defined]
    return out


def statuses(report: dict[str, Any], check: str) -> set[str]:
    return {f["status"] for f in report["findings"] if f["check"] == check}


def test_wacz_validate_and_pages(built: Built, wacz: Path) -> None:
    proc = subprocess.run([str(BIN / "wacz"), "validate", "-f", str(wacz)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation succeeded" in proc.stdout
    with zipfile.ZipFile(wacz) as zf:
        names = set(zf.namelist())
        lines = zf.read("pages/pages.jsonl").decode().splitlines()
        package = json.loads(zf.read("datapackage.json"))
        warcs = [i for i in zf.infolist() if i.filename.startswith("archive/")]
    assert {"datapackage.json", "datapackage-digest.json", "indexes/index.cdx",
            "pages/pages.jsonl"} <= names
    assert f"archive/{built.first_id}-0.warc.gz" in names
    assert all(i.compress_type == zipfile.ZIP_STORED for i in warcs)
    header = json.loads(lines[0])
    assert header["format"] == "json-pages-1.0" and header["id"] == "pages"
    pages = [json.loads(line) for line in lines[1:]]
    assert [p["url"] for p in pages if p["captureId"] == built.first_id] == built.seeds
    for page in pages:
        assert datetime.fromisoformat(page["ts"].replace("Z", "+00:00")).tzinfo is not None
        assert page["id"] and page["url"].startswith("http")
    assert package["wacz_version"] == "1.1.1" and package["profile"] == "data-package"
    assert package["mainPageUrl"] == built.seeds[0]


def test_signature_is_webcrypto_anonymous_form(built: Built, wacz: Path) -> None:
    with zipfile.ZipFile(wacz) as zf:
        digest = json.loads(zf.read("datapackage-digest.json"))
        raw = zf.read("datapackage.json")
        binding = parse_envelope(zf.read("prov/signer.dsse.json"), what="signer")
    signed = digest["signedData"]
    assert signed["hash"] == digest["hash"] == "sha256:" + hashlib.sha256(raw).hexdigest()
    key = serialization.load_der_public_key(base64.b64decode(signed["publicKey"]))
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp384r1"
    sig = base64.b64decode(signed["signature"])
    assert len(sig) == 96  # WebCrypto's raw r||s, not DER
    der = encode_dss_signature(int.from_bytes(sig[:48], "big"), int.from_bytes(sig[48:], "big"))
    key.verify(der, signed["hash"].encode(), ec.ECDSA(hashes.SHA256()))
    assert signed["created"] == json.loads(raw)["created"]
    p384_pem = (built.root / "prov-home" / "keys" / "default.p384.pub").read_bytes()
    assert serialization.load_pem_public_key(p384_pem) == key
    assert (built.root / "prov-home" / "keys" / "default.p384.key").stat().st_mode & 0o777 == 0o600
    assert b"ENCRYPTED" in (built.root / "prov-home" / "keys" / "default.p384.key").read_bytes()
    ed = serialization.load_pem_public_key(built.pub.read_bytes())
    ed.verify(binding.signatures[0][1], pae(binding.payload_type, binding.payload))  # type: ignore[union-attr, call-arg]
    assert json.loads(binding.payload)["p384PublicKey"] == signed["publicKey"]


def test_verify_passes_and_export_is_logged(built: Built, wacz: Path) -> None:
    code, report = built.verify(wacz)
    assert code == EXIT_OK, report
    assert report["kind"] == "wacz"
    for check in ("wacz.signature", "wacz.signer", "wacz.resources", "checkpoint", "capture",
                  "seal.signature", "timestamp", "trust.anchor", "package.entries"):
        assert statuses(report, check) == {"pass"}, check
    with zipfile.ZipFile(wacz) as zf:
        package_sha = hashlib.sha256(zf.read("datapackage.json")).hexdigest()
        signer_sha = hashlib.sha256(zf.read("prov/signer.dsse.json")).hexdigest()
    logged = [e for e in entries(built) if e["action"] == "export"]
    details: Any = logged[0]["details"]
    assert details["kind"] == "wacz" and details["manifestSha256"] == package_sha
    assert details["signerSha256"] == signer_sha and details["verification"] == "pass"


def test_revisit_original_travels_along(built: Built, tmp_path: Path) -> None:
    out = tmp_path / "one.wacz"
    proc: Any = built.prov("export", "wacz", "--case", str(built.case), "--capture",
                           built.synthetic_id[:13], "-o", str(out))
    assert proc.returncode == EXIT_OK, proc.stderr
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        index = zf.read("indexes/index.cdx").decode()
    assert f"archive/{built.synthetic_id}-0.warc.gz" in names
    assert f"archive/{built.first_id}-0.warc.gz" in names  # the revisit's original
    assert "warc/revisit" in index
    code, report = built.verify(out)
    assert code == EXIT_OK, report


def _rewrite(src: Path, dest: Path, change: Callable[[str, bytes], bytes | None]) -> None:
    """Copy a ZIP member by member; ``change`` returns new bytes or None to drop a member."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w") as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info))
            if data is not None:
                zout.writestr(info, data)


def _flip_warc(name: str, data: bytes) -> bytes:
    return data[:-40] + bytes([data[-40] ^ 1]) + data[-39:] if name.startswith("archive/") \
        else data


def _resign_p384(name: str, data: bytes) -> bytes:
    """A forger's own P-384 key: a valid anonymous signature the Ed25519 key never vouched for."""
    if name != "datapackage-digest.json":
        return data
    doc = json.loads(data)
    key = ec.generate_private_key(ec.SECP384R1())
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(key.sign(doc["hash"].encode(), ec.ECDSA(hashes.SHA256())))
    doc["signedData"]["signature"] = base64.b64encode(r.to_bytes(48, "big") +
                                                      s.to_bytes(48, "big")).decode()
    doc["signedData"]["publicKey"] = base64.b64encode(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    return json.dumps(doc).encode()


def _drop_log_line(name: str, data: bytes) -> bytes:
    return b"".join(data.splitlines(keepends=True)[:-1]) if name == "prov/log-entries.jsonl" \
        else data


def _manifest(change: Callable[[dict[str, Any]], None]) -> Callable[[str, bytes], bytes]:
    """Edit prov/manifest.json (its datapackage hash then differs too: wacz.resource)."""
    def edit(name: str, data: bytes) -> bytes:
        if name != "prov/manifest.json":
            return data
        doc = json.loads(data)
        change(doc)
        return json.dumps(doc).encode()
    return edit


def _reorder_log(name: str, data: bytes) -> bytes:
    """The last log line first, its proof moved with it."""
    if name == "prov/log-entries.jsonl":
        lines = data.splitlines(keepends=True)
        return b"".join([lines[-1], *lines[:-1]])
    if name == "prov/manifest.json":
        doc = json.loads(data)
        proofs = doc["log"]["proofs"]
        doc["log"]["proofs"] = [proofs[-1], *proofs[:-1]]
        return json.dumps(doc).encode()
    return data


OTHER_ID = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
MUTATIONS: dict[str, tuple[Callable[[str, bytes], bytes | None], str]] = {
    "caseId-of-another-case": (_manifest(lambda d: d.update(caseId=OTHER_ID)), "package.caseId"),
    "treeSize-not-the-checkpoint": (
        _manifest(lambda d: d["log"].update(treeSize=d["log"]["treeSize"] + 1)),
        "package.treeSize"),
    "captureId-of-another-capture": (
        _manifest(lambda d: d["captures"][0].update(captureId=OTHER_ID)), "seal.binding"),
    "log-lines-reordered": (_reorder_log, "log.order"),
    "warc-byte": (_flip_warc, "wacz.resource"),
    "forged-p384-signer": (_resign_p384, "wacz.signer"),
    "dropped-log-line": (_drop_log_line, "wacz.resource"),
    "dropped-seal": (lambda n, d: None if n.endswith(".seal.dsse.json") else d, "wacz.resource"),
    "extra-member": (lambda n, d: d, "wacz.member"),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_tampered_wacz_fails(built: Built, wacz: Path, tmp_path: Path, mutation: str) -> None:
    change, check = MUTATIONS[mutation]
    bad = tmp_path / "bad.wacz"
    _rewrite(wacz, bad, change)
    if mutation == "extra-member":
        with zipfile.ZipFile(bad, "a") as zf:
            zf.writestr("../evil.txt", b"x")
    code, report = built.verify(bad)
    assert code == EXIT_INTEGRITY
    assert "fail" in statuses(report, check), report


def test_a_chain_no_token_carries_is_a_warning(built: Built, wacz: Path,
                                               tmp_path: Path) -> None:
    """A WACZ's ``prov/certs.*.pem`` are judged as a case's certs/ (``certs.unused``): an honest
    export of a stamped case passes --strict; a well-formed chain left in the case and exported
    is named at its place in the WACZ, a warning --strict fails; one the log names beside a token
    but the WACZ lacks is missing, as in a case, and one that is not PEM is ``certs.chain``."""
    with zipfile.ZipFile(wacz) as zf:
        chains = [n for n in zf.namelist() if n.startswith("prov/certs.")]
    assert chains
    built.verify(wacz)  # remembers its checkpoint: --strict fails history.unanchored otherwise
    code, report = built.verify(wacz, "--strict")
    assert code == EXIT_OK, [f for f in report["findings"] if f["status"] != "pass"]
    assert "certs.unused" not in {f["check"] for f in report["findings"]}
    left = built.clone(tmp_path / "left")
    pem = left.tsa_root().read_bytes()
    name = f"{hashlib.sha256(pem).hexdigest()}.pem"
    (left.case / "certs" / name).write_bytes(pem)
    out = tmp_path / "left.wacz"
    proc: Any = left.prov("export", "wacz", "--case", str(left.case), "-o", str(out))
    assert proc.returncode == EXIT_OK, proc.stderr
    code, report = left.verify(out)
    assert code == EXIT_OK, [f for f in report["findings"] if f["status"] == "fail"]
    [unused] = [f for f in report["findings"] if f["check"] == "certs.unused"]
    assert (unused["status"], unused["subject"]) == ("warn", f"prov/certs.{name}")
    assert [f["check"] for f in report["findings"] if f["status"] == "warn"] == [
        "certs.unused"]
    assert "the WACZ" in unused["message"]
    code, _ = left.verify(out, "--strict")
    assert code == EXIT_INTEGRITY
    for kind, data in (("lacking", None), ("garbled", b"not a chain\n")):
        changed = tmp_path / f"{kind}.wacz"
        with zipfile.ZipFile(wacz) as zin, zipfile.ZipFile(changed, "w") as zout:
            for info in zin.infolist():
                if info.filename != chains[0]:
                    zout.writestr(info, zin.read(info))
                elif data is not None:
                    zout.writestr(info, data)
        code, report = built.verify(changed)
        assert code == EXIT_INTEGRITY
        found = {(f["status"], f["check"]) for f in report["findings"] if f["subject"] == chains[0]}
        assert ("fail", "file.missing" if data is None else "certs.chain") in found, kind
        assert "pass" in statuses(report, "capture"), kind  # the rest is still judged


def test_bad_arguments_and_gate(built: Built, tmp_path: Path) -> None:
    case = str(built.case)
    proc: Any = built.prov("export", "wacz", "--case", case, "--capture", "ffff", "-o",
                           str(tmp_path / "x.wacz"))
    assert proc.returncode == EXIT_USAGE and "0 captures match" in proc.stderr
    proc = built.prov("export", "wacz", "--case", case, "-o", str(tmp_path / "x.zip"))
    assert proc.returncode == EXIT_USAGE and ".wacz" in proc.stderr
    proc = built.prov("export", "wacz", "--case", case)
    assert proc.returncode == EXIT_USAGE and "--output" in proc.stderr
    broken = built.clone(tmp_path / "broken")
    seal = next(broken.case.glob(f"captures/*/*/*/{built.first_id}/seal.dsse.json"))
    warc = seal.with_name("data-00000.warc.gz")
    warc.write_bytes(warc.read_bytes() + b"\x00")
    out = tmp_path / "failed.wacz"
    proc = broken.prov("export", "wacz", "--case", str(broken.case), "-o", str(out))
    assert proc.returncode == EXIT_INTEGRITY and "fails verification" in proc.stderr
    assert not out.exists()
    proc = broken.prov("export", "wacz", "--case", str(broken.case), "--allow-failed", "-o",
                       str(out))
    assert proc.returncode == EXIT_OK, proc.stderr
    with zipfile.ZipFile(out) as zf:
        package = json.loads(zf.read("datapackage.json"))
    assert package["title"].startswith("FAILED VERIFICATION")
    assert package["description"].startswith("**WARNING: exported with --allow-failed")
    _, report = broken.verify(out)
    assert "warn" in statuses(report, "export.allowFailed")


# -- replay in ReplayWeb.page -----------------------------------------------------------------


def audit(built: Built, target: Path, home: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """`prov verify --json` by an auditor whose $PROV_HOME is `home` (it remembers)."""
    proc = run_prov("verify", str(target), "--json", "--trust", str(built.pub), "--tsa-root",
                    str(built.tsa_root()), *args, env={**built.env, "PROV_HOME": str(home)})
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def wacz_checkpoint(wacz: Path) -> bytes:
    with zipfile.ZipFile(wacz) as zf:
        return zf.read("prov/custody.checkpoint")


def history(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f["status"], f["check"], f["subject"]) for f in report["findings"]
            if f["check"].startswith("history.")]


def test_a_wacz_older_than_the_case_seen_passes_and_says_how_much(
    built: Built, wacz: Path, tmp_path: Path
) -> None:
    home = tmp_path / "auditor"
    code, report = audit(built, built.case, home)  # newer than the WACZ: it logged the export
    assert code == EXIT_OK, [f for f in report["findings"] if f["status"] == "fail"]
    size = (built.case / "custody" / "log.jsonl").read_bytes().count(b"\n")
    exported = int(wacz_checkpoint(wacz).split(b"\n")[1])
    assert exported < size
    origin = json.loads((built.case / "case.json").read_bytes())["origin"]
    seen = home / "seen" / origin / f"{size:020d}.checkpoint"
    code, report = audit(built, wacz, home)
    assert code == EXIT_OK, [f for f in report["findings"] if f["status"] == "fail"]
    assert history(report) == [("info", "history.older", str(seen)),
                               ("info", "history.remembered", "prov/custody.checkpoint")]
    [older] = [f for f in report["findings"] if f["check"] == "history.older"]
    assert f"the log seen is {size - exported} entries newer" in older["message"]


def test_since_is_judged_for_a_wacz(built: Built, wacz: Path, tmp_path: Path) -> None:
    held = tmp_path / "held.checkpoint"
    held.write_bytes(wacz_checkpoint(wacz))
    code, report = audit(built, wacz, tmp_path / "a", "--since", str(held), "--no-remember")
    assert code == EXIT_OK, [f for f in report["findings"] if f["status"] == "fail"]
    assert history(report) == [("pass", "history.consistent", str(held))]
    other = tmp_path / "other-case"
    assert built.prov("init", str(other)).returncode == EXIT_OK  # type: ignore[attr-defined]
    proc: Any = built.prov("log", "checkpoint", "--case", str(other))
    foreign = tmp_path / "other.checkpoint"
    foreign.write_text(proc.stdout)
    code, report = audit(built, wacz, tmp_path / "b", "--since", str(foreign))
    assert code == EXIT_INTEGRITY
    assert history(report) == [("fail", "history.origin", str(foreign))]
    assert not (tmp_path / "b" / "seen").exists()  # a failing history is not remembered


class _RangeHandler(SimpleHTTPRequestHandler):
    """Static files with HTTP range requests (WACZ readers fetch members by range)."""

    def send_head(self) -> Any:
        wanted = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not wanted or not path.is_file() or not wanted.startswith("bytes="):
            return super().send_head()
        size = path.stat().st_size
        first, _, last = wanted[6:].partition("-")
        start = int(first) if first else max(0, size - int(last))
        end = min(int(last), size - 1) if first and last else size - 1
        fh = open(path, "rb")  # noqa: SIM115 - closed by copyfile's caller
        fh.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.remaining = end - start + 1
        return fh

    def copyfile(self, source: Any, outputfile: Any) -> None:
        left = getattr(self, "remaining", None)
        if left is None:
            super().copyfile(source, outputfile)
            return
        while left > 0 and (chunk := source.read(min(left, 1 << 16))):
            outputfile.write(chunk)
            left -= len(chunk)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def replaywebpage() -> Path:
    """ui.js and sw.js of replaywebpage 2.5.3 (scripts/test fetches them; npm pack if not)."""
    if not (CACHE / "ui.js").is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("replaywebpage not cached and npm not installed (run scripts/test)")
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "pack", "replaywebpage@2.5.3", "--pack-destination", str(CACHE)],
                       check=True, capture_output=True, timeout=300)
        subprocess.run(["tar", "-xzf", "replaywebpage-2.5.3.tgz", "--strip-components=1",
                        "package/ui.js", "package/sw.js"], cwd=CACHE, check=True)
    return CACHE


@pytest.mark.flaky(reruns=2)  # a service worker in a loaded 2-CPU machine can miss its window
def test_replays_in_replaywebpage(built: Built, wacz: Path, tmp_path: Path) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    rwp = replaywebpage()
    site = tmp_path / "site"
    (site / "replay").mkdir(parents=True)
    for name in ("ui.js",):
        shutil.copy2(rwp / name, site / name)
        shutil.copy2(rwp / name, site / "replay" / name)
    shutil.copy2(rwp / "sw.js", site / "replay" / "sw.js")  # under the default replayBase
    shutil.copy2(wacz, site / "evidence.wacz")
    article = built.seeds[1]
    (site / "index.html").write_text(
        '<!doctype html><html><head><script src="./ui.js"></script></head><body>'
        f'<replay-web-page source="evidence.wacz" url="{article}" '
        'style="display:block;width:1000px;height:700px"></replay-web-page></body></html>')
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_RangeHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium")
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html")
            frame = page.frame_locator("replay-web-page iframe").frame_locator("iframe")
            text, deadline = "", time.monotonic() + 120
            while TITLE not in text and time.monotonic() < deadline:
                try:  # the replay frame appears once the service worker has loaded the WACZ
                    text = frame.locator("body").inner_text(timeout=5_000)
                except PlaywrightError:
                    time.sleep(0.5)
            if TITLE not in text:
                page.screenshot(path=str(tmp_path / "replay.png"))
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    assert TITLE in text, f"not replayed; see {tmp_path / 'replay.png'}"
