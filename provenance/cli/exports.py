"""``prov export``, ``report``, ``disclose`` and ``replay``: hand-over packages, each logged as a
custody event, and the captures served in pywb only after they verify.
"""

from __future__ import annotations

import ipaddress
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from archive.errors import ExitCode
from provenance import api
from provenance.base import timefmt
from provenance.cli import render
from provenance.cli.options import (
    PathArg,
    _after_change,
    _echo,
    _err,
    _non_empty,
    _prompt,
    _signing_key,
    _stamper,
    case_option,
    key_option,
    publish_options,
)
from provenance.cli.progress import VerifyProgress
from provenance.replay.wayback import PywbServer

F = TypeVar("F", bound=Callable[..., Any])


@click.command("disclose")
@click.option("--capture", "capture_id", required=True, help="Capture id (or a unique prefix).")
@click.option("--url", "urls", multiple=True, help="Disclose only records of this URL.")
@click.option("--without-requests", is_flag=True,
              help="Leave request records out (they may hold cookies); proofs still show "
                   "they exist.")
@click.option("-o", "--output", type=PathArg(path_type=Path), required=True,
              help="Folder to write the package to (must not exist yet).")
@case_option
@key_option
@publish_options
def disclose(capture_id: str, urls: tuple[str, ...], without_requests: bool, output: Path,
             case_path: str | None, key_name: str, print_checkpoint: bool,
             publish: str | None, tsa: tuple[str, ...],
        tsa_timeout: float) -> None:
    """Write a package with chosen records of one capture, verifiable on its own."""
    case = api.open_case(case_path)
    manifest = api.disclose(case, capture_id, output, urls, not without_requests,
                            _signing_key(key_name, case), timefmt.utc_now(),
                            _stamper(case.root, tsa, tsa_timeout))
    shown = sum(1 for r in manifest["records"] if r["included"])
    _echo(f"{output}: {shown} records disclosed, "
               f"{len(manifest['records']) - shown} withheld (proven by hash)")
    _after_change(case, print_checkpoint, publish)


def _prompt_once() -> Callable[[], bytes | None]:
    """One passphrase prompt shared by the Ed25519 and the P-384 key."""
    ask = _prompt()
    cache: list[bytes | None] = []

    def once() -> bytes | None:
        if not cache:
            cache.append(ask())
        return cache[0]

    return once


def export_options(func: F) -> F:
    func = click.option("--allow-failed", is_flag=True,
                        help="Export even if the case fails verification; the package then "
                             "says so on its first page.")(func)
    return click.option("-o", "--output", type=PathArg(path_type=Path), required=True,
                        help="Where to write it (must not exist yet).")(func)


def capture_ids_option(func: F) -> F:
    return click.option("--capture", "capture_ids", multiple=True, metavar="ID",
                        help="Capture id or unique prefix (repeatable; default: all).")(func)


@click.group("export")
def export_group() -> None:
    """Hand-over packages, each logged as a custody event: signed WACZ, BagIt bag."""


@export_group.command("wacz")
@capture_ids_option
@export_options
@case_option
@key_option
@publish_options
def export_wacz(capture_ids: tuple[str, ...], output: Path, allow_failed: bool,
                case_path: str | None, key_name: str, print_checkpoint: bool,
                publish: str | None, tsa: tuple[str, ...], tsa_timeout: float) -> None:
    """A signed WACZ 1.1.1 that replays in ReplayWeb.page; `prov verify` checks all of it."""
    case = api.open_case(case_path)
    ask = _prompt_once()
    result = api.export_wacz(case, capture_ids, output, api.load_key(key_name, ask, case),
                             timefmt.utc_now(), prompt=ask, allow_failed=allow_failed,
                             stamper=_stamper(case.root, tsa, tsa_timeout))
    _echo(f"{output}: {len(result.captures)} capture(s), {result.pages} page(s), "
               f"signed by {result.p384_key_id}")
    _after_change(case, print_checkpoint, publish)


@export_group.command("bag")
@click.option("--contact", metavar="TEXT", help="Contact-Name in bag-info.txt.")
@export_options
@case_option
@key_option
@publish_options
def export_bag(contact: str | None, output: Path, allow_failed: bool, case_path: str | None,
               key_name: str, print_checkpoint: bool, publish: str | None,
               tsa: tuple[str, ...], tsa_timeout: float) -> None:
    """The case as a BagIt 1.0 bag, signed and stamped, with VERIFY.txt for standard tools."""
    case = api.open_case(case_path)
    result = api.export_bag(case, output, _signing_key(key_name, case), timefmt.utc_now(),
                            allow_failed=allow_failed, contact=contact,
                            stamper=_stamper(case.root, tsa, tsa_timeout))
    _echo(f"{output}: {result.files} files; tag manifest signed"
               + (f" and stamped by {len(result.stamped)} TSA(s)" if result.stamped else ""))
    for failed in result.unstamped:
        _err(f"warning: tag manifest not stamped by {failed}")
    _after_change(case, print_checkpoint, publish)


@click.command("report")
@capture_ids_option
@export_options
@case_option
@key_option
@publish_options
def report(capture_ids: tuple[str, ...], output: Path, allow_failed: bool,
           case_path: str | None, key_name: str, print_checkpoint: bool, publish: str | None,
           tsa: tuple[str, ...], tsa_timeout: float) -> None:
    """An exhibit report: one self-contained HTML file a lawyer can read."""
    case = api.open_case(case_path)
    api.exhibit_report(case, capture_ids, output, _signing_key(key_name, case), timefmt.utc_now(),
                       allow_failed=allow_failed, stamper=_stamper(case.root, tsa, tsa_timeout))
    _echo(f"{output}: report written")
    _after_change(case, print_checkpoint, publish)


@click.command("replay")
@click.argument("target", required=False, callback=_non_empty)
@click.option("--capture", "capture_ids", multiple=True, metavar="ID",
              help="Serve this capture (an id or a unique prefix; repeatable). Default: all.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on; 0 picks a free one.")
@click.option("--bind", "bind", default="127.0.0.1", show_default=True, metavar="ADDRESS",
              help="IP address to listen on. Anything but loopback shows the evidence to "
                   "whoever can reach this machine.")
@click.option("--unverified", is_flag=True,
              help="Serve without verifying first. What is shown may have been altered "
                   "after it was sealed.")
@click.option("--trust", "trust_files", multiple=True,
              type=PathArg(dir_okay=False, path_type=Path), help="Trust this public key.")
@click.option("--trust-id", "trust_ids", multiple=True, metavar="ID",
              help="Trust the key with this id (ed25519:<64 hex>).")
@click.option("--tsa-root", "tsa_roots", multiple=True,
              type=PathArg(dir_okay=False, path_type=Path),
              help="Trust this TSA root certificate (PEM) for timestamps.")
def replay(target: str | None, capture_ids: tuple[str, ...], port: int, bind: str,
           unverified: bool, trust_files: tuple[Path, ...], trust_ids: tuple[str, ...],
           tsa_roots: tuple[Path, ...]) -> None:
    """Serve a case's or a WACZ's captures in pywb, on 127.0.0.1, after verifying them.

    TARGET is a case folder or a WACZ file (default: $PROV_CASE, or the case around the
    current directory). Each capture is its own pywb collection, so a page opened at a
    capture's time shows that capture alone. Prints the URL of each captured page; Ctrl-C
    stops (exit 0). Needs the replay extra (pywb)."""
    if target is not None and target.startswith("s3://"):
        raise click.BadParameter("replay serves a local case or WACZ; copy a bucket case "
                                 "first with `prov copy`", param_hint="TARGET")
    try:
        loopback = ipaddress.ip_address(bind).is_loopback
    except ValueError:
        raise click.BadParameter(f"{bind!r} is not an IP address", param_hint="--bind") from None
    path = Path(target) if target is not None else api.open_case(None).root
    server = PywbServer(bind, port)  # a port in use fails before any work
    if unverified:
        _err("WARNING: --unverified: serving evidence that was NOT verified; what it shows "
             "may have been altered after it was sealed")
    else:
        _verify_before_replay(path, trust_files, trust_ids, tsa_roots)
    if not loopback:
        _err(f"WARNING: listening on {bind}: anyone who can reach this machine sees the "
             "evidence")
    with tempfile.TemporaryDirectory(prefix="prov-replay-") as folder:
        prepared = api.prepare_replay(path, capture_ids, Path(folder))
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            server.start(prepared)
            for collection in prepared.collections:
                for page in collection.pages:
                    _echo(collection.page_url(server.base_url, page))
                if not collection.pages:
                    _echo(f"{server.base_url}{collection.name}/")
            _err(f"pywb serves {len(prepared.collections)} capture(s) of {path} at "
                 f"{server.base_url} (Ctrl-C stops)")
            status = server.wait()
        except KeyboardInterrupt:
            _err("stopped")
            return
        finally:
            server.stop()
    _err(f"pywb stopped by itself (exit status {status}); its messages are above")
    raise SystemExit(ExitCode.CONFIG)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _verify_before_replay(path: Path, trust_files: tuple[Path, ...], trust_ids: tuple[str, ...],
                          tsa_roots: tuple[Path, ...]) -> None:
    """Verify as `prov verify` does (nothing remembered); a failure stops replay with the
    report on stderr and verify's exit code."""
    progress = VerifyProgress(sys.stderr)
    try:
        report = api.verify(path, trust_files, trust_ids, remember=False, tsa_roots=tsa_roots,
                            on_progress=progress.update)
    finally:
        progress.finish()
    if report.exit_code != ExitCode.OK:
        render.show_report(report, as_json=False, err=True)
        _err(f"refusing to serve {path}: it failed verification (the report is above); "
             "--unverified serves it anyway, marked as such")
        raise SystemExit(report.exit_code)
    counts = report.counts
    _err(f"verified {path}: {counts['fail']} failed, {counts['warn']} warning(s)")
