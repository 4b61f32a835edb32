"""``prov init``, ``snapshot``, ``captures``, ``extract``, ``copy`` and ``hold``: making a case,
capturing into it, and reading back what it holds (every name shown is escaped: it comes from
the pages captured).
"""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, get_type_hints

import click

from archive.errors import ExitCode
from provenance import api
from provenance.base import timefmt
from provenance.base.terminal import printable
from provenance.capture import catalog
from provenance.capture.options import Flag, SnapshotOptions
from provenance.cli import render
from provenance.cli.options import (
    F,
    PathArg,
    _after_change,
    _echo,
    _err,
    _say_unstamped,
    _signing_key,
    _stamper,
    case_option,
    endpoint_option,
    key_option,
    publish_options,
    retention_options,
)
from provenance.cli.progress import CaptureProgress
from provenance.exports.extract import extract as extract_record
from provenance.signing.trust import Anchors


def snapshot_options(func: F) -> F:
    """The options of ``SnapshotOptions``, one per field in its order, each made from the
    field's declaration: its name, type, default and ``Flag``."""
    types = get_type_hints(SnapshotOptions)
    for declared in reversed(fields(SnapshotOptions)):
        spelled: Flag = declared.metadata["flag"]
        kind = types[declared.name]
        how: dict[str, Any] = {}
        if kind is bool:
            how["is_flag"] = True
        elif kind == tuple[str, ...]:
            how["multiple"] = True
        elif kind == Path | None:
            how["type"] = PathArg(dir_okay=False, path_type=Path)
        elif spelled.choices:
            how["type"] = click.Choice(spelled.choices)
        elif kind in (int, int | None):
            how["type"] = click.INT
        elif kind in (float, float | None):
            how["type"] = click.FLOAT
        elif kind != str | None:
            raise TypeError(f"SnapshotOptions.{declared.name}: no flag for {kind}")
        func = click.option(f"--{declared.name.replace('_', '-')}", default=declared.default,
                            show_default=spelled.show_default, metavar=spelled.metavar,
                            help=spelled.help, **how)(func)
    return func


@click.command("init")
@click.argument("path")
@click.option("--title", default="", help="A title for the case.")
@key_option
@retention_options
@endpoint_option
@publish_options
def init(path: str, title: str, key_name: str, retain_until: str | None,
         retain_days: int | None, lock_mode: str | None, print_checkpoint: bool,
         publish: str | None, tsa: tuple[str, ...],
        tsa_timeout: float) -> None:
    """Create a case (a folder, or s3://BUCKET/PREFIX) whose founding key is --key."""
    retention = api.retention_rule(lock_mode, retain_until, retain_days)
    case = api.init_case(path if path.startswith("s3://") else Path(path), title,
                         _signing_key(key_name), timefmt.utc_now(),
                         _stamper(None, tsa, tsa_timeout), retention)
    _echo(case.info.id)
    _err(f"case {case.info.origin} created at {path}")
    _after_change(case, print_checkpoint, publish)


@click.command("snapshot")
@click.argument("urls", nargs=-1, required=True)
@case_option
@key_option
@click.option("--note", help="A note sealed with the capture.")
@snapshot_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress and no table; errors only.")
@publish_options
def snapshot(urls: tuple[str, ...], case_path: str | None, key_name: str, note: str | None,
             as_json: bool, quiet: bool, print_checkpoint: bool, publish: str | None,
             tsa: tuple[str, ...], tsa_timeout: float, **given: Any) -> None:
    """Capture URLs into one sealed, logged capture."""
    case = api.open_case(case_path)
    key = _signing_key(key_name, case)
    wanted = api.SnapshotOptions(**given).checked(refuse=click.UsageError)
    progress = None if (quiet or as_json) else CaptureProgress(sys.stderr, sys.stdout)
    try:
        result = api.snapshot(case, list(urls), key, wanted, note,
                              _stamper(case.root, tsa, tsa_timeout),
                              progress.update if progress else None)
    finally:  # erased (and the cursor shown again) on an error or Ctrl-C too
        if progress:
            progress.finish()
    render.show_snapshot(result, as_json=as_json, quiet=quiet,
                         streamed=bool(progress and progress.streamed))
    if result.browser and not quiet:
        _err(f"browser: left out of the evidence {result.browser['notAttributable']} requests "
             f"not made by the pages and {result.browser['chromiumOwn']} of Chromium's own")
    _after_change(case, print_checkpoint, publish)
    _say_unstamped(result.capture_id, [(o.url, o.error or "") for o in result.unstamped], tsa)
    refused = len(result.refused) + (result.browser or {}).get("addressesRefused", 0)
    if refused:
        _err(f"{refused} requests for private addresses were refused (recorded in the "
             "capture; --allow-private-addresses fetches them)")
    if result.not_fetched:
        _err(f"{len(result.not_fetched)} URLs the crawl found were not fetched: the total "
             "time limit was reached (listed in the capture entry)")
    if result.failed:
        _err(f"{len(result.failed)} of {len(result.outcomes)} URLs could not be captured "
             f"(the attempts are sealed in {result.capture_id})")
        raise SystemExit(ExitCode.CAPTURE_FAILED)


@click.group()
def captures() -> None:
    """What a case holds."""


@captures.command("list")
@case_option
@click.option("--url", "pattern", metavar="PATTERN",
              help="List every capture of the URLs that match, newest first, as `captures "
                   "find` does: a glob (*, ?, [...]) over the whole URL, or text the URL "
                   "contains.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the rows as JSON (docs/FORMATS.md, \"Capture listings\").")
def captures_list(case_path: str | None, pattern: str | None, as_json: bool) -> None:
    """Every capture with its note and the URLs it was given (the status and digest of
    each); with --url, every record of the matching URLs."""
    case = api.open_case(case_path)
    if pattern is not None:
        render.show_holdings(catalog.find(case, pattern=pattern), as_json=as_json,
                             none=f"no capture holds a URL matching {pattern!r}")
        return
    render.show_listings(catalog.list_captures(case), as_json=as_json)


@captures.command("find")
@click.argument("url")
@case_option
@click.option("--json", "as_json", is_flag=True,
              help="Print the rows as JSON (docs/FORMATS.md, \"Capture listings\").")
def captures_find(url: str, case_path: str | None, as_json: bool) -> None:
    """Every capture of URL (exactly as captured), newest first: status, payload digest,
    file and offset, and the screenshots and DOM of the page. Exit 0 even when none."""
    render.show_holdings(catalog.find(api.open_case(case_path), url=url), as_json=as_json,
                         none=f"no capture holds {url} (`prov captures list --url TEXT` "
                         "matches part of a URL)")


@captures.command("show")
@click.argument("capture_id", metavar="CAPTURE")
@case_option
@click.option("--json", "as_json", is_flag=True,
              help="Print the seal, every record and the media posts as JSON.")
def captures_show(capture_id: str, case_path: str | None, as_json: bool) -> None:
    """One capture (an id or unique prefix): its seal, files, records and media posts."""
    render.show_capture(api.show_capture(api.open_case(case_path), capture_id),
                        as_json=as_json)


@click.command("extract")
@click.argument("capture_id", metavar="CAPTURE")
@click.argument("url")
@click.option("--body", "kind", flag_value="body",
              help="The response body, transfer- and content-decoded (chunked, gzip, deflate, "
                   "br) as a browser would; stderr says which.")
@click.option("--screenshot", "kind", flag_value="screenshot",
              help="The page's full-page screenshot (PNG), or its viewport one when there is "
                   "no full-page one (a --browser capture).")
@click.option("--dom", "kind", flag_value="dom",
              help="The page's DOM after its scripts ran (HTML, a --browser capture).")
@click.option("--raw", is_flag=True,
              help="With --body: the body as recorded, chunk framing and content coding kept.")
@click.option("-o", "--output", type=PathArg(dir_okay=False, path_type=Path), required=True,
              help="Where to write it (must not exist yet).")
@click.option("--trust", "trust_files", multiple=True,
              type=PathArg(dir_okay=False, path_type=Path),
              help="Trust this public key as the case's founding key (as verify does).")
@click.option("--trust-id", "trust_ids", multiple=True, metavar="ID",
              help="Trust the key with this id (ed25519:<64 hex>).")
@click.option("--allow-unanchored", is_flag=True,
              help="Extract from a case whose founding key none of your trust anchors names "
                   "(a warning, not a refusal): it is then trusted only on its own word.")
@case_option
def extract(capture_id: str, url: str, kind: str | None, raw: bool, output: Path,
            trust_files: tuple[Path, ...], trust_ids: tuple[str, ...],
            allow_unanchored: bool, case_path: str | None) -> None:
    """Write a body, a screenshot or a DOM of URL out of CAPTURE (an id or unique prefix),
    after verifying it: the custody log, the capture's seal, the sha256 of its WARC file and
    the record's digests. Nothing is written unless all of them pass (exit 3), and never over
    an existing file (exit 2)."""
    if kind is None:
        raise click.UsageError("say what to extract: --body, --screenshot or --dom")
    if raw and kind != "body":
        raise click.UsageError("--raw goes with --body")
    case = api.open_case(case_path)
    done = extract_record(case, capture_id, url, kind, output, raw=raw,
                          anchors=Anchors.collect(trust_files, trust_ids, target=case.root,
                                                  allow_unanchored=allow_unanchored))
    for warning in done.warnings:
        _err(f"warning: {warning}")
    status = f"{done.status}, " if done.status is not None else ""
    _err(f"{output}: {done.kind} of {printable(done.record_uri)} from capture "
         f"{done.capture_id} ({status}{printable(done.content_type) or 'no type'}; "
         f"{done.size} bytes, {done.decoding})")
    _err(f"verified: seal signed by {done.signer} and logged; {done.file} matches the sealed "
         "sha256; the record's digests match")


@click.command("copy")
@click.argument("source")
@click.argument("destination")
@key_option
@click.option("--keep-source-writable", is_flag=True,
              help="Leave the source open for appends; the copy then becomes a case of its "
                   "own, with its own custody log (a new log name, its origin), that "
                   "starts from the source's latest checkpoint.")
@retention_options
@endpoint_option
def copy(source: str, destination: str, key_name: str, keep_source_writable: bool,
         retain_until: str | None, retain_days: int | None, lock_mode: str | None) -> None:
    """Copy a case between a folder and s3://BUCKET/PREFIX (either way), checking every
    object; the source becomes read-only unless --keep-source-writable."""
    done = api.copy_case(source, destination, _signing_key(key_name), timefmt.utc_now(),
                         keep_source_writable=keep_source_writable,
                         retention=api.retention_rule(lock_mode, retain_until, retain_days))
    _err(f"{done['files']} objects copied to {destination} and checked; " + (
        "the source stays writable; the copy is a case of its own, with its own custody "
        "log, which starts from the source's latest checkpoint" if keep_source_writable
        else "the source is now read-only"))


@click.command("hold")
@click.option("--on/--off", "on", required=True, help="Set or clear the legal hold.")
@case_option
@key_option
def hold(on: bool, case_path: str | None, key_name: str) -> None:
    """Set (or clear) an S3 legal hold on every evidence object of a case in a bucket."""
    case = api.open_case(case_path)
    count = api.legal_hold(case, on, _signing_key(key_name, case),
                           timefmt.utc_now())
    _err(f"legal hold {'ON' if on else 'OFF'} on {count} object versions")
