"""``prov init``, ``snapshot``, ``captures``, ``extract``, ``copy`` and ``hold``: making a case,
capturing into it, and reading back what it holds (every name shown is escaped: it comes from
the pages captured).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from archive.errors import ExitCode
from provenance import api
from provenance.base import timefmt
from provenance.base.terminal import printable
from provenance.capture import catalog
from provenance.cli import render
from provenance.cli.options import (
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
@click.option("--requisites", is_flag=True,
              help="Also fetch what each page needs: images, styles, scripts, media, fonts.")
@click.option("--depth", default=0, show_default=True, help="Follow links this many levels.")
@click.option("--scope", type=click.Choice(["host", "domain", "prefix"]), default="host",
              show_default=True, help="Which links --depth follows.")
@click.option("--include", multiple=True, metavar="REGEX", help="Follow only matching links.")
@click.option("--exclude", multiple=True, metavar="REGEX", help="Never fetch matching URLs.")
@click.option("--concurrency", type=int,
              help="Fetches at once (default 16); with --browser, pages at once (default 2).")
@click.option("--per-host", default=4, show_default=True, help="Fetches at once per host.")
@click.option("--delay", default=0.0, show_default=True,
              help="Seconds between two requests to the same host.")
@click.option("--browser", is_flag=True,
              help="Load each URL in headless Chromium through prov's recording proxy: every "
                   "request the page makes, the DOM and dated screenshots.")
@click.option("--media", is_flag=True,
              help="Also run yt-dlp on each URL through prov's recording proxy: the video a "
                   "post shows, its metadata, and why it is unavailable when it is.")
@click.option("--media-comments", is_flag=True,
              help="With --media: also keep the comments yt-dlp can read.")
@click.option("--storage-state", type=PathArg(dir_okay=False, path_type=Path),
              help="With --browser: a Playwright storage state (cookies, localStorage) to "
                   "capture as a logged-in user. Its cookies stay in the request records.")
@click.option("--page-timeout", default=60.0, show_default=True,
              help="With --browser: seconds for a page to load.")
@click.option("--scroll-steps", default=20, show_default=True,
              help="With --browser: scroll down at most this many screens (lazy loading).")
@click.option("--retries", default=2, show_default=True,
              help="Retries for connection errors and 429/5xx answers (Retry-After honoured).")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds per request.")
@click.option("--total-timeout", type=float, help="Seconds for the whole capture.")
@click.option("--max-body", default=1 << 30, show_default=True, help="Bytes per response.")
@click.option("--max-redirects", default=10, show_default=True,
              help="Redirects followed from each URL (each one is recorded).")
@click.option("--warc-size", default=1 << 30, show_default=True,
              help="Start a new WARC file past this many bytes.")
@click.option("--via", metavar="URL",
              help="Capture through this proxy: http://host:port or socks5[h]://host:port.")
@click.option("--ca-file", type=PathArg(dir_okay=False, path_type=Path),
              help="Trust these CA certificates instead of the default store.")
@click.option("--insecure-skip-tls-verify", is_flag=True,
              help="Accept any TLS certificate (recorded in every metadata record).")
@click.option("--allow-private-addresses", is_flag=True,
              help="Also connect to addresses of this machine's own networks (loopback, "
                   "link-local, private ranges) that no seed resolves to.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress and no table; errors only.")
@publish_options
def snapshot(urls: tuple[str, ...], case_path: str | None, key_name: str, note: str | None,
             requisites: bool, depth: int, scope: str, include: tuple[str, ...],
             exclude: tuple[str, ...], concurrency: int | None, per_host: int, delay: float,
             browser: bool, media: bool, media_comments: bool,
             storage_state: Path | None, page_timeout: float,
             scroll_steps: int, retries: int, timeout: float, total_timeout: float | None,
             max_body: int, max_redirects: int, warc_size: int, via: str | None,
             ca_file: Path | None, insecure_skip_tls_verify: bool,
             allow_private_addresses: bool, as_json: bool, quiet: bool,
             print_checkpoint: bool, publish: str | None, tsa: tuple[str, ...],
             tsa_timeout: float) -> None:
    """Capture URLs into one sealed, logged capture."""
    case = api.open_case(case_path)
    key = _signing_key(key_name, case)
    options = api.capture_options(
        timeout=timeout, max_body=max_body, max_redirects=max_redirects,
        concurrency=16 if concurrency is None else concurrency, per_host=per_host, delay=delay,
        retries=retries, total_timeout=total_timeout, requisites=requisites, depth=depth,
        scope=scope, include=include, exclude=exclude, via=via, ca_file=ca_file,
        insecure_skip_tls_verify=insecure_skip_tls_verify,
        allow_private_addresses=allow_private_addresses)
    pages = api.browser_options(page_timeout=page_timeout,
                                concurrency=2 if concurrency is None else concurrency,
                                scroll_steps=scroll_steps,
                                storage_state=storage_state) if browser else None
    if storage_state is not None and not browser:
        raise click.UsageError("--storage-state needs --browser")
    if media_comments and not media:
        raise click.UsageError("--media-comments needs --media")
    posts = api.media_options(comments=media_comments) if media else None
    progress = None if (quiet or as_json) else CaptureProgress(sys.stderr, sys.stdout)
    try:
        result = api.snapshot(case, list(urls), key, options, note,
                              _stamper(case.root, tsa, tsa_timeout), warc_size,
                              progress.update if progress else None, browser=pages, media=posts)
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
