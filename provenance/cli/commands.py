"""The ``prov`` command line: parse options, call ``provenance.api``, render, exit.

Exit codes (README, "Exit codes"): 0 ok, 1 unexpected crash, 2 usage, 3 integrity failure,
4 not a case or package, 5 capture failed, 6 configuration, 7 the case is locked.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import click

from archive.errors import ExitCode, ProvError
from provenance import __version__
from provenance.base import timefmt
from provenance.base.home import DEFAULT_KEY
from provenance.base.terminal import printable, safe_json, terminal_safe
from provenance.cli.progress import Progress, summary_line

if TYPE_CHECKING:
    from provenance import api
    from provenance.custody.stamping import Stamper
    from provenance.signing.keys import SigningKey

F = TypeVar("F", bound=Callable[..., Any])


class _OnFirstUse:
    """A module imported when first used: `prov verify-warc` never loads the crawler, the TSA
    client or the S3 code, which would triple its start-up."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


if not TYPE_CHECKING:
    api = _OnFirstUse("provenance.api")


class PathArg(click.Path):
    """``click.Path`` that refuses an empty value (exit 2): ``Path("")`` is the current
    folder, which must never stand in for a file the user meant to name."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> Any:
        if isinstance(value, str) and value == "":
            self.fail("an empty path names nothing (it would be the current folder)", param, ctx)
        return super().convert(value, param, ctx)


def _non_empty(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A path given as text (it may be an s3:// URL) must not be empty, like ``PathArg``."""
    if value == "":
        raise click.BadParameter("an empty path names nothing (it would be the current folder)",
                                 ctx, param)
    return value


def _echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    """Every line prov writes: names in it come from cases, packages and pages, so whatever
    a terminal would act on is escaped (``provenance.base.terminal``)."""
    click.echo(terminal_safe(text), err=err, nl=nl)


def _err(message: str) -> None:
    """A one-line message on stderr, every character of it printable."""
    click.echo(f"prov: {printable(message)}", err=True)


def _prompt(confirm: bool = False) -> Callable[[], bytes | None]:
    def ask() -> bytes | None:
        if not sys.stdin.isatty():
            return None
        value = click.prompt("Key passphrase", hide_input=True,
                             confirmation_prompt=confirm, default="", show_default=False)
        return str(value).encode() or None

    return ask


def key_option(func: F) -> F:
    return click.option("--key", "key_name", default=DEFAULT_KEY, show_default=True,
                        metavar="NAME", help="Signing key in $PROV_HOME/keys.")(func)


def _old_key_name(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.params["key_name"] = value


def named_key_option(func: F) -> F:
    """``--key NAME`` for the key a ``keys`` command works on; ``--name`` is its old spelling,
    still accepted (hidden)."""
    func = click.option("--name", metavar="NAME", hidden=True, expose_value=False,
                        is_eager=False, callback=_old_key_name,
                        help="Old spelling of --key.")(func)
    return click.option("--key", "key_name", default=DEFAULT_KEY, show_default=True,
                        metavar="NAME", help="Name of the key in $PROV_HOME/keys.")(func)


def _set_endpoint(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        api.set_endpoint_url(value)


def endpoint_option(func: F) -> F:
    return click.option("--endpoint-url", metavar="URL", expose_value=False,
                        callback=_set_endpoint,
                        help="S3 endpoint for s3:// cases (default: AWS_ENDPOINT_URL or the "
                             "AWS config).")(func)


def jobs_option(func: F) -> F:
    return click.option("-j", "--jobs", type=click.IntRange(min=1), metavar="N",
                        help="Worker processes reading WARCs (default: one per core).")(func)


def case_option(func: F) -> F:
    func = endpoint_option(func)
    return click.option("--case", "case_path", metavar="PATH", callback=_non_empty,
                        help="Case folder or s3://BUCKET/PREFIX (default: $PROV_CASE, or the "
                             "case around the current directory).")(func)


def retention_options(func: F) -> F:
    func = click.option("--retain-until", metavar="DATE",
                        help="S3 Object Lock: keep every evidence object until DATE.")(func)
    func = click.option("--retain-days", type=int, metavar="N",
                        help="S3 Object Lock: keep each evidence object N days from upload.")(func)
    return click.option("--lock-mode", type=click.Choice(["compliance", "governance"]),
                        help="Object Lock mode (default compliance: nobody can delete or "
                             "shorten before the date).")(func)


def publish_options(func: F) -> F:
    """Options of every command that appends to a case: TSAs, and the new checkpoint."""
    func = click.option("--tsa", "tsa", multiple=True, metavar="URL",
                        help="RFC 3161 time-stamp authority (repeatable; default: tsa = [...] "
                             "in the case's or your config.toml; 'none' for none).")(func)
    func = click.option("--tsa-timeout", default=10.0, show_default=True,
                        help="Seconds to wait for each TSA.")(func)
    func = click.option("--print-checkpoint", is_flag=True,
                        help="Print the new checkpoint in one line: origin, size, root.")(func)
    return click.option("--publish", metavar="CMD",
                        help="Run CMD (through the shell) with the new signed checkpoint on "
                             "stdin, to mail, post or store it elsewhere.")(func)


def _after_change(case: Any, print_checkpoint: bool, publish: str | None) -> None:
    if not (print_checkpoint or publish):
        return
    note = api.latest_checkpoint(case)
    if print_checkpoint:
        _echo(api.checkpoint_line(case).one_line())
    if publish:
        api.publish_checkpoint(publish, note)


def _stamper(case_root: Path | None, tsa: tuple[str, ...], timeout: float) -> Stamper:
    from provenance.custody.stamping import Stamper, configured_tsas

    return Stamper(configured_tsas(case_root, tsa), timeout=timeout)


def _say_unstamped(capture: str, unstamped: Sequence[tuple[str, str]],
                   tsa: tuple[str, ...]) -> None:
    """Say on stderr that a seal the operator wanted stamped is not (the exit code is not
    changed: the stamp is logged as pending, README "Exit codes")."""
    from provenance.custody.stamping import operator_tsas

    for url, error in unstamped:
        _err(f"capture {capture} NOT time-stamped by {url}: {error} (logged as pending; "
             "`prov timestamp` completes it)")
    if tsa and all(u == "none" for u in tsa) and (wanted := operator_tsas()):
        _err(f"capture {capture} NOT time-stamped: --tsa none, although your config.toml "
             f"names {len(wanted)} TSA(s)")


def _signing_key(name: str, case: Any = None) -> SigningKey:
    """The key NAME; with ``case``, refused (exit 6) before the passphrase is asked and
    before anything is written unless the case trusts it (``provenance.custody.signers``)."""
    return api.load_key(name, _prompt(), case)


def _print_json(value: Any) -> None:
    click.echo(safe_json(json.dumps(value, indent=2, ensure_ascii=False)))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="prov")
def cli() -> None:
    """Preserve web sources as evidence: capture, seal, log custody, verify."""


# -- keys -----------------------------------------------------------------------------------


@cli.group()
def keys() -> None:
    """Signing keys ($PROV_HOME/keys) and the keys you trust ($PROV_HOME/trusted)."""


@keys.command("generate")
@named_key_option
@click.option("--unsafe-no-passphrase", is_flag=True,
              help="Store the private key unencrypted: anyone who can read the file can sign "
                   "as you. For throwaway keys only.")
def keys_generate(key_name: str, unsafe_no_passphrase: bool) -> None:
    """Make an Ed25519 signing key and trust it for this user."""
    from provenance.signing.keys import KeyFileError, env_passphrase, key_path

    passphrase = None
    if not unsafe_no_passphrase:
        passphrase = env_passphrase() or _prompt(confirm=True)()
        if not passphrase:
            raise KeyFileError("no passphrase for the new key",
                               hint="set PROV_KEY_PASSPHRASE_FILE or PROV_KEY_PASSPHRASE, type "
                                    "one at the prompt, or pass --unsafe-no-passphrase")
    name = key_name
    key = api.generate_key(name, passphrase)
    _echo(key.key_id)
    if passphrase and (why := api.passphrase_weakness(passphrase, name)):
        _err(f"warning: the passphrase is weak ({why}): whoever copies the key file can "
             "guess it offline; several unrelated words make a strong one (change it by "
             "generating a new key)")
    _err(f"key {name!r} written to {key_path(name)}" +
         (" (UNENCRYPTED)" if unsafe_no_passphrase else ""))


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    """``90s``, ``30m``, ``8h``, or a number of minutes."""
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (value[:-1], value[-1]) if value[-1:] in units else (value, "m")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a duration (like 90s, 30m or 8h)",
                                 ctx, param) from None
    if not 0 < seconds <= 24 * 3600:
        raise click.BadParameter("must be more than 0 and at most 24h", ctx, param)
    return seconds


@keys.command("unlock")
@key_option
@click.option("--for", "seconds", default="30m", show_default=True, callback=_duration,
              metavar="DURATION", help="How long to stay unlocked: 90s, 30m, 8h (at most 24h).")
def keys_unlock(key_name: str, seconds: float) -> None:
    """Type the passphrase once: an agent holds it for a while, so signing commands stop
    asking. While unlocked, any program running as you can sign as you (docs/SECURITY.md)."""
    from provenance.signing.keys import KeyFileError, env_passphrase

    secret = env_passphrase() or _prompt()()
    if not secret:
        raise KeyFileError("no passphrase given", hint="type it at the prompt (a terminal is "
                                                       "needed) or set PROV_KEY_PASSPHRASE_FILE")
    path = api.unlock_key(key_name, secret, seconds)
    _err(f"key {key_name!r} unlocked for {seconds / 60:g} min (agent at {path}); "
         f"`prov keys lock --key {key_name}` ends it sooner")


@keys.command("lock")
@key_option
def keys_lock(key_name: str) -> None:
    """Stop the agent holding the key's passphrase (`prov keys unlock`)."""
    running = api.lock_key(key_name)
    _err(f"key {key_name!r} locked" if running else f"key {key_name!r} was not unlocked")


@keys.command("list")
def keys_list() -> None:
    """Your signing keys, with full key ids (a WACZ export's P-384 key on its own line)."""
    rows, problems = api.list_keys()
    for name, key_id in rows:
        _echo(f"{name}\t{key_id}")
    for problem in problems:
        _err(f"warning: {problem}")


@keys.command("export")
@named_key_option
def keys_export(key_name: str) -> None:
    """Print a public key (PEM) to stdout."""
    _echo(api.export_key(key_name).decode(), nl=False)


@keys.command("trust")
@click.argument("public_key", type=PathArg(dir_okay=False, path_type=Path))
def keys_trust(public_key: Path) -> None:
    """Trust a public key for verification ($PROV_HOME/trusted)."""
    _echo(api.trust_key_file(public_key))


@keys.command("add")
@click.argument("public_key", type=PathArg(dir_okay=False, path_type=Path))
@case_option
@key_option
@click.option("--note", help="Why this key is trusted.")
@publish_options
def keys_add(public_key: Path, case_path: str | None, key_name: str, note: str | None,
             print_checkpoint: bool, publish: str | None, tsa: tuple[str, ...],
        tsa_timeout: float) -> None:
    """Trust another key in a case (a key-trusted entry signed by a trusted key)."""
    case = api.open_case(case_path)
    _echo(api.add_case_key(case, public_key, _signing_key(key_name, case), note,
                                timefmt.utc_now(), _stamper(case.root, tsa, tsa_timeout)))
    _after_change(case, print_checkpoint, publish)


# -- cases and captures ----------------------------------------------------------------------


@cli.command("init")
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


@cli.command("snapshot")
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
    progress = None if (quiet or as_json) else Progress(sys.stderr, sys.stdout)
    result = api.snapshot(case, list(urls), key, options, note,
                          _stamper(case.root, tsa, tsa_timeout), warc_size,
                          progress.update if progress else None, browser=pages, media=posts)
    if progress:
        progress.finish()
    if as_json:
        _print_json({"captureId": result.capture_id, "captureDir": result.capture_dir,
                     "urls": [o.as_json() for o in result.outcomes],
                     "unstamped": [{"tsa": o.url, "error": o.error} for o in result.unstamped],
                     **({"browser": result.browser} if result.browser else {}),
                     **({"media": result.media} if result.media is not None else {})})
    elif not quiet:
        if not (progress and progress.streamed):
            for outcome in result.outcomes:
                _echo(summary_line(outcome))
        _echo(f"capture {result.capture_id} sealed in {result.capture_dir}")
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


@cli.group()
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
    from provenance.capture import catalog

    case = api.open_case(case_path)
    if pattern is not None:
        _show_holdings(catalog.find(case, pattern=pattern), as_json, f"no capture holds a URL "
                       f"matching {pattern!r}")
        return
    rows = catalog.list_captures(case)
    if as_json:
        _print_json([r.as_json() for r in rows])
        return
    for r in rows:
        _echo(f"{r.capture_id}\t{r.logged_at}\t{r.urls} urls\t{r.failed} failed")
        if r.note:
            _echo(f"    note: {printable(r.note)}")
        if r.unreadable:
            _echo(f"    files not readable here: {printable(r.unreadable)}")
        for seed in r.seeds:
            _echo(f"    {seed.status or 'no answer'}\t{printable(seed.url)}")
        if r.other_urls:
            _echo(f"    and {r.other_urls} other URL(s): `prov captures show "
                  f"{r.capture_id}` lists them")


@captures.command("find")
@click.argument("url")
@case_option
@click.option("--json", "as_json", is_flag=True,
              help="Print the rows as JSON (docs/FORMATS.md, \"Capture listings\").")
def captures_find(url: str, case_path: str | None, as_json: bool) -> None:
    """Every capture of URL (exactly as captured), newest first: status, payload digest,
    file and offset, and the screenshots and DOM of the page. Exit 0 even when none."""
    from provenance.capture import catalog

    _show_holdings(catalog.find(api.open_case(case_path), url=url), as_json,
                   f"no capture holds {url} (`prov captures list --url TEXT` matches part of "
                   "a URL)")


def _show_holdings(rows: Sequence[Any], as_json: bool, none: str) -> None:
    if as_json:
        _print_json([r.as_json() for r in rows])
        return
    if not rows:
        _err(none)
    for r in rows:
        what = (f"failed\t{printable(str(r.error))}" if r.record_type == "failed" else
                f"{r.status or r.record_type}\t{r.payload_digest or '-'}")
        _echo(f"{r.logged_at}\t{r.capture_id}\t{what}\t{printable(r.url)}")


@captures.command("show")
@click.argument("capture_id", metavar="CAPTURE")
@case_option
@click.option("--json", "as_json", is_flag=True,
              help="Print the seal, every record and the media posts as JSON.")
def captures_show(capture_id: str, case_path: str | None, as_json: bool) -> None:
    """One capture (an id or unique prefix): its seal, files, records and media posts."""
    shown = api.show_capture(api.open_case(case_path), capture_id)
    if as_json:
        _print_json(shown)
        return
    pred = shown["seal"]["predicate"]
    _echo(f"capture   {shown['captureId']}\nfolder    {shown['captureDir']}\n"
               f"started   {pred['startedAt']}\nended     {pred['endedAt']}\n"
               f"operator  {pred['operator']}\nrecords   {pred['recordsRoot']}")
    if pred.get("note"):
        _echo(f"note      {printable(str(pred['note']))}")
    for subject in shown["seal"]["subject"]:
        _echo(f"file      {printable(str(subject['name']))}  sha256:{subject['digest']['sha256']}")
    for row in shown["records"]:
        if row["type"] == "response":
            _echo(f"  {row['status']}\t{printable(str(row['uri']))}")
    for post in shown.get("media", []):
        _echo(media_line(post))


@cli.command("extract")
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
    from provenance.exports.extract import extract as extract_record
    from provenance.signing.trust import Anchors

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


def media_line(post: dict[str, Any]) -> str:
    """One post of a media capture: availability, then uploader, upload time, duration and
    each file's digest."""
    if post.get("availability") != "available":
        return "\t".join(["media " + printable(str(post.get("availability"))),
                          printable(str(post.get("url"))), printable(str(post.get("reason")))])
    stamp = post.get("timestamp")
    when = (timefmt.format_time(datetime.fromtimestamp(stamp, UTC))
            if isinstance(stamp, int | float) and 0 <= stamp < 1e11
            else post.get("uploadDate") or "upload time unknown")
    duration = post.get("duration")
    seconds = f"{duration:g} s" if isinstance(duration, int | float) else "duration unknown"
    files = ", ".join(f"{m.get('type')} {m.get('sha256')} ({m.get('bytes')} bytes)"
                      for m in post.get("media") or [] if isinstance(m, dict))
    url, uploader = printable(str(post.get("url"))), printable(str(post.get("uploader") or "?"))
    return (f"media available\t{url}\n    uploader {uploader}, uploaded {printable(str(when))}, "
            f"{seconds}, {printable(str(post.get('extractor')))}\n    {printable(files)}")


# -- verify and the log ----------------------------------------------------------------------


@cli.command("verify", short_help="Verify a case, WACZ, bag, disclosure package or proof.")
@click.argument("target", callback=_non_empty)
@endpoint_option
@click.option("--trust", "trust_files", multiple=True,
              type=PathArg(dir_okay=False, path_type=Path), help="Trust this public key.")
@click.option("--trust-id", "trust_ids", multiple=True, metavar="ID",
              help="Trust the key with this id (ed25519:<64 hex>).")
@click.option("--allow-unanchored", is_flag=True,
              help="Accept a target whose founding key none of your trust anchors names "
                   "(a warning, not a failure): it is then trusted only on its own word.")
@click.option("--strict", is_flag=True, help="Warnings fail too.")
@click.option("--since", "since", multiple=True, type=PathArg(dir_okay=False, path_type=Path),
              help="Prove the log consistent with this checkpoint (from `prov log checkpoint`).")
@click.option("--no-remember", is_flag=True,
              help="Do not store the verified checkpoint in $PROV_HOME/seen.")
@click.option("--tsa-root", "tsa_roots", multiple=True,
              type=PathArg(dir_okay=False, path_type=Path),
              help="Trust this TSA root certificate (PEM) for timestamps.")
@click.option("--record", is_flag=True,
              help="After a passing verify, write your C2SP cosignature (with --key) beside "
                   "the checkpoint you verified. It adds nothing to the case's trust.")
@click.option("--key", "key_name", default=DEFAULT_KEY, show_default=True, metavar="NAME",
              help="Your key, for --record.")
@click.option("--cosigner-name", metavar="NAME",
              help="Name in the cosignature line (no spaces or '+'; default "
                   "prov-auditor/<key id prefix>).")
@click.option("--as", "as_kind",
              type=click.Choice(["case", "wacz", "bag", "disclosure", "proof"]),
              help="Take the target for this kind, whatever it holds (default: decided from "
                   "the target; a folder with case.json is always a case).")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="List passing checks too.")
@jobs_option
def verify(target: str, trust_files: tuple[Path, ...], trust_ids: tuple[str, ...],
           strict: bool, since: tuple[Path, ...], no_remember: bool,
           tsa_roots: tuple[Path, ...], record: bool,
           key_name: str, cosigner_name: str | None, as_kind: str | None, as_json: bool,
           verbose: bool, jobs: int | None, allow_unanchored: bool) -> None:
    """Verify a case, a WACZ, a bag, a disclosure package or an inclusion proof:
    signatures, digests, seals, custody log, checkpoints, history.

    TARGET is any of: a case folder, or s3://BUCKET/PREFIX for a case in a bucket; a WACZ
    file (`prov export wacz`); a BagIt bag folder (`prov export bag`); a disclosure package
    folder (`prov disclose`); an inclusion proof (`prov log prove`). The kind is decided from
    what TARGET holds and named in the report; --as pins it.

    Exit 0 when everything verifies (warnings allowed unless --strict), 3 when something
    fails, 4 when TARGET is none of these."""
    from provenance.cli.meter import Meter

    if record and cosigner_name is not None:
        api.check_cosigner_name(cosigner_name)  # before the passphrase prompt
    recording = (_signing_key(key_name), cosigner_name) if record else None
    meter = Meter(sys.stderr)
    try:
        report = api.verify(target if target.startswith("s3://") else Path(target),
                            trust_files, trust_ids, strict, since, not no_remember, recording,
                            tsa_roots=tsa_roots, jobs=jobs, on_progress=meter.update,
                            as_kind=as_kind, allow_unanchored=allow_unanchored)
    finally:
        meter.finish()
    _show_report(report, as_json, verbose)


def _show_report(report: Any, as_json: bool, verbose: bool) -> None:
    if as_json:
        _print_json(report.as_json())
    else:
        _echo(report.render_table(verbose=verbose))
    raise SystemExit(report.exit_code)


@cli.command("verify-warc")
@click.argument("files", nargs=-1, required=True, type=PathArg(path_type=Path))
@click.option("--strict", is_flag=True, help="Warnings fail too (a record without a digest).")
@click.option("--all-records", is_flag=True, help="A finding for every record, passes too.")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="List passing checks too.")
@jobs_option
def verify_warc(files: tuple[Path, ...], strict: bool, all_records: bool, as_json: bool,
                verbose: bool, jobs: int | None) -> None:
    """Check WARC files made by any tool: digests, headers, ids, targets, revisits.

    Exit 0 when every record's digests match, 3 when a check fails (or a file has no
    digests at all), 4 when a file is not a WARC."""
    from provenance.cli.meter import Meter
    from provenance.verification.warcs import verify_warcs  # not via api: no case code to load

    meter = Meter(sys.stderr)
    try:
        report = verify_warcs(list(files), strict=strict, jobs=jobs,
                              all_records=all_records, on_progress=meter.update)
    finally:
        meter.finish()
    _show_report(report, as_json, verbose or all_records)


@cli.group()
def log() -> None:
    """The custody log."""


@log.command("show")
@case_option
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON instead of text.")
def log_show(case_path: str | None, as_json: bool) -> None:
    """Every custody entry: number, time, action, actor and the files it names."""
    entries = api.read_entries(api.open_case(case_path))
    if as_json:
        _print_json([json.loads(e.payload()) for e in entries])
        return
    for e in entries:
        subjects = " ".join(s.name for s in e.subjects)
        _echo(f"{e.seq:>6} {e.time} {e.action:18} {e.actor[:24]}… {subjects}")


@log.command("checkpoint")
@case_option
def log_checkpoint(case_path: str | None) -> None:
    """Print the latest signed checkpoint (keep it: verify --since proves against it)."""
    _echo(api.latest_checkpoint(api.open_case(case_path)).decode(), nl=False)


@log.command("repair")
@case_option
@key_option
@publish_options
def log_repair(case_path: str | None, key_name: str, print_checkpoint: bool,
               publish: str | None, tsa: tuple[str, ...],
        tsa_timeout: float) -> None:
    """Complete what an interrupted command left (never deletes evidence)."""
    case = api.open_case(case_path)
    done = api.repair(case, _signing_key(key_name, case), timefmt.utc_now,
                      _stamper(case.root, tsa, tsa_timeout))
    for line in done or ["nothing to repair"]:
        _echo(line)
    _after_change(case, print_checkpoint, publish)


@log.command("prove")
@click.option("--entry", "index", type=int, required=True, help="Entry number (0-based).")
@click.option("-o", "--output", type=PathArg(dir_okay=False, path_type=Path), required=True,
              help="Where to write the proof (JSON; must not exist yet).")
@click.option("--since", type=PathArg(dir_okay=False, path_type=Path),
              help="Add a consistency proof from this earlier checkpoint.")
@case_option
def log_prove(index: int, output: Path, since: Path | None, case_path: str | None) -> None:
    """Write an inclusion proof of one entry against the latest checkpoint."""
    from archive.errors import UsageError

    if os.path.lexists(output):
        raise UsageError(f"-o {output}: already exists (a proof is never written over a file)")
    doc = api.prove_entry(api.open_case(case_path), index, since)
    try:
        with output.open("x") as fh:
            fh.write(json.dumps(doc, indent=2) + "\n")
    except FileExistsError:
        raise UsageError(f"-o {output}: already exists (a proof is never written over a "
                         "file)") from None
    _err(f"proof of entry {index} in the log of size {doc['treeSize']} written to {output}")


@log.command("verify-proof")
@click.argument("proof", type=PathArg(dir_okay=False, path_type=Path))
@click.option("--checkpoint", type=PathArg(dir_okay=False, path_type=Path),
              help="A checkpoint you hold (e.g. from `prov log checkpoint`) to check against.")
@click.option("--trust", "trust_files", multiple=True,
              type=PathArg(dir_okay=False, path_type=Path),
              help="Trust this public key (the log's founding key).")
@click.option("--trust-id", "trust_ids", multiple=True, metavar="ID",
              help="Trust the key with this id (ed25519:<64 hex>).")
@click.option("--allow-unanchored", is_flag=True,
              help="Accept a target whose founding key none of your trust anchors names "
                   "(a warning, not a failure): it is then trusted only on its own word.")
def log_verify_proof(proof: Path, checkpoint: Path | None, trust_files: tuple[Path, ...],
                     trust_ids: tuple[str, ...], allow_unanchored: bool) -> None:
    """Check an inclusion proof offline, without the case, against your trust anchors
    (--trust, --trust-id, $PROV_HOME/trusted) as `prov verify` does."""
    lines, warnings = api.verify_proof(proof, checkpoint, trust_files, trust_ids,
                                       allow_unanchored)
    for line in lines:
        _echo(line)
    for warning in warnings:
        _err(f"warning: {warning}")


@cli.command("disclose")
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


@cli.group()
def custody() -> None:
    """Custodians: transfer, acceptance, disposition, and the chain of custody."""


@custody.command("transfer")
@click.option("--to", "recipient", required=True,
              type=PathArg(dir_okay=False, path_type=Path), help="Recipient's public key.")
@click.option("--note", help="Why, to whom, under what order.")
@case_option
@key_option
@publish_options
def custody_transfer(recipient: Path, note: str | None, case_path: str | None, key_name: str,
                     print_checkpoint: bool, publish: str | None, tsa: tuple[str, ...],
        tsa_timeout: float) -> None:
    """Hand custody to another key (completed by its `prov custody accept`)."""
    case = api.open_case(case_path)
    _echo(api.transfer_custody(case, recipient, note, _signing_key(key_name, case),
                                    timefmt.utc_now(), _stamper(case.root, tsa, tsa_timeout)))
    _after_change(case, print_checkpoint, publish)


@custody.command("accept")
@click.option("--note", help="Why, and under what order, custody is accepted.")
@case_option
@key_option
@publish_options
def custody_accept(note: str | None, case_path: str | None, key_name: str,
                   print_checkpoint: bool, publish: str | None, tsa: tuple[str, ...],
        tsa_timeout: float) -> None:
    """Accept custody transferred to your key."""
    case = api.open_case(case_path)
    # the key is the transfer's recipient or refused (exit 2) before anything is written; the
    # case trusts the recipient from the transfer on, as CustodyLog.append checks again
    seq = api.accept_custody(case, note, _signing_key(key_name), timefmt.utc_now(),
                             _stamper(case.root, tsa, tsa_timeout))
    _err(f"accepted the transfer of entry {seq}")
    _after_change(case, print_checkpoint, publish)


@custody.command("dispose")
@click.option("--as", "disposition", required=True,
              type=click.Choice(["returned", "archived", "released", "destroyed", "other"]),
              help="How custody ended.")
@click.option("--note", help="Details: to whom, by what order, where.")
@case_option
@key_option
@publish_options
def custody_dispose(disposition: str, note: str | None, case_path: str | None, key_name: str,
                    print_checkpoint: bool, publish: str | None, tsa: tuple[str, ...],
        tsa_timeout: float) -> None:
    """Record how custody of the evidence ended."""
    case = api.open_case(case_path)
    api.dispose(case, disposition, note, _signing_key(key_name, case), timefmt.utc_now(),
                _stamper(case.root, tsa, tsa_timeout))
    _after_change(case, print_checkpoint, publish)


@custody.command("report")
@case_option
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON instead of text.")
def custody_report(case_path: str | None, as_json: bool) -> None:
    """The chain of custodians: periods of control, actions, gaps."""
    chain = api.custody_chain(api.open_case(case_path))
    if as_json:
        _print_json(chain.as_json())
        return
    for p in chain.periods:
        actions = ", ".join(f"{k} x{v}" for k, v in sorted(p.actions.items()))
        _echo(f"{p.start} .. {p.end or 'now'}  {p.custodian}  ({printable(p.name or '?')})\n"
                   f"    {actions or 'no actions'}" +
                   (f"\n    ended by {p.ended_by}" if p.ended_by else ""))
    for gap in chain.gaps:
        _echo(f"GAP {gap['from']} .. {gap['until']}: {printable(str(gap['reason']))}")
    for other in chain.others:
        _echo(f"NOTE entry {other['seq']} ({other['action']}) by {other['actor']}, "
                   "not the custodian")
    if chain.pending:
        _echo(f"PENDING transfer (entry {chain.pending['seq']}) to "
              f"{printable(str(chain.pending['to']))}")


@cli.command("copy")
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


@cli.command("hold")
@click.option("--on/--off", "on", required=True, help="Set or clear the legal hold.")
@case_option
@key_option
def hold(on: bool, case_path: str | None, key_name: str) -> None:
    """Set (or clear) an S3 legal hold on every evidence object of a case in a bucket."""
    case = api.open_case(case_path)
    count = api.legal_hold(case, on, _signing_key(key_name, case),
                           timefmt.utc_now())
    _err(f"legal hold {'ON' if on else 'OFF'} on {count} object versions")


@cli.command("timestamp")
@case_option
@key_option
@publish_options
def timestamp(case_path: str | None, key_name: str, print_checkpoint: bool,
              publish: str | None, tsa: tuple[str, ...], tsa_timeout: float) -> None:
    """Stamp whatever is pending (after a TSA outage), and the latest checkpoint."""
    case = api.open_case(case_path)
    stamper = _stamper(case.root, tsa, tsa_timeout)
    done = api.complete_timestamps(case, _signing_key(key_name, case), stamper, timefmt.utc_now)
    for line in done or ["nothing pending"]:
        _echo(line)
    _after_change(case, print_checkpoint, publish)
    if any(line.startswith("still pending") for line in done):
        raise SystemExit(ExitCode.CAPTURE_FAILED)


@cli.group()
def tsa() -> None:
    """Time-stamp authorities you trust ($PROV_HOME/tsa-roots)."""


@tsa.command("trust")
@click.argument("root_pem", type=PathArg(dir_okay=False, path_type=Path))
def tsa_trust(root_pem: Path) -> None:
    """Trust a TSA root certificate for verification."""
    for fp in api.trust_tsa_root(root_pem):
        _echo(fp)


# -- scheduled snapshots ---------------------------------------------------------------------


@cli.group()
def schedule() -> None:
    """Watched sources, snapshotted when due (for cron and systemd timers)."""


@schedule.command("run")
@click.argument("sources", type=PathArg(dir_okay=False, path_type=Path))
@case_option
@key_option
@click.option("--all", "everything", is_flag=True, help="Snapshot every source now, due or not.")
@click.option("--on-change", metavar="CMD",
              help="When something changed, run CMD (through the shell) with the changes as "
                   "JSON on stdin.")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON, always.")
@click.option("-v", "--verbose", is_flag=True,
              help="Say on stderr what the run decided for each source: due or not and "
                   "why, first snapshot, unchanged, changed, taken down, failed.")
@publish_options
def schedule_run(sources: Path, case_path: str | None, key_name: str, everything: bool,
                 on_change: str | None, as_json: bool, verbose: bool, print_checkpoint: bool,
                 publish: str | None, tsa: tuple[str, ...], tsa_timeout: float) -> None:
    """Snapshot the sources that are due, then exit. Never prompts; prints nothing unless
    something changed or failed (exit 5 when a capture failed, 7 when a run is going on).
    Run by hand on a terminal, it shows the fetches going on (stderr)."""
    from provenance.watch import diffs, runs
    from provenance.watch import schedule as schedule_mod

    case = api.open_case(case_path)
    key = api.load_key(key_name, case=case)  # the passphrase from the environment: cron cannot type
    with api.case_session(case, run="schedule"):  # a case in a bucket: one run at a time
        progress = Progress(sys.stderr, sys.stderr) if sys.stderr.isatty() else None
        try:
            result = schedule_mod.run(sources, case, key, _stamper(case.root, tsa, tsa_timeout),
                                      everything=everything,
                                      on_progress=progress.update if progress else None)
        finally:
            if progress:
                progress.finish()
    if verbose:
        for line in result.decisions:
            _err(line)
        if not result.due:
            _err("nothing was due: no capture made")
    if as_json:
        _print_json(result.as_json())
    elif result.changes or result.repaired:
        _echo(runs.render_report(case.root, result))
    if result.captures:
        _after_change(case, print_checkpoint, publish)
    if on_change and result.changes:
        diffs.run_on_change(on_change, {"case": str(case.root), "caseId": case.info.id,
                                        **result.as_json()})
    for row in result.unstamped:
        _say_unstamped(row["captureId"], [(row["tsa"], row["error"])], ())
    if all(u == "none" for u in tsa) and tsa and result.captures:
        _say_unstamped(", ".join(result.captures), [], tsa)
    for url, error in result.failures:
        _err(f"{url}: {error}")
    if result.failures:
        _err(f"{len(result.failures)} URL(s) could not be captured (the attempts are sealed in "
             f"{', '.join(result.captures) or 'no capture'})")
        raise SystemExit(ExitCode.CAPTURE_FAILED)


@schedule.command("status")
@click.argument("sources", required=False, type=PathArg(dir_okay=False, path_type=Path))
@case_option
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON instead of text.")
def schedule_status(sources: Path | None, case_path: str | None, as_json: bool) -> None:
    """Each source's last and next run, last change and last failure."""
    from provenance.watch import runs

    rows = runs.status(api.open_case(case_path), sources, timefmt.utc_now())
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        _echo(runs.render_status(row))


@cli.command("diff")
@click.argument("url")
@click.option("--from", "from_id", metavar="ID", help="Capture id (or prefix); default: the "
              "URL's second-to-last capture.")
@click.option("--to", "to_id", metavar="ID", help="Capture id (or prefix); default: its last.")
@case_option
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON instead of text.")
@click.option("--on-change", metavar="CMD",
              help="If the two differ, run CMD (through the shell) with the diff as JSON on "
                   "stdin.")
def diff(url: str, from_id: str | None, to_id: str | None, case_path: str | None,
         as_json: bool, on_change: str | None) -> None:
    """How a URL differs between two captures: status, content, visible text, resources."""
    from provenance.watch import diffs

    found = diffs.diff_url(api.open_case(case_path), url, from_id, to_id)
    if as_json:
        _print_json(found.as_json())
    else:
        _echo(diffs.render(found))
    if on_change and (found.change.changes or found.change.takedown):
        diffs.run_on_change(on_change, found.as_json())


# -- exports ---------------------------------------------------------------------------------


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


@cli.group("export")
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


@cli.command("report")
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


@cli.command("replay")
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
    import ipaddress
    import signal
    import tempfile

    from provenance.replay.wayback import PywbServer

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
    from provenance.cli.meter import Meter

    meter = Meter(sys.stderr)
    try:
        report = api.verify(path, trust_files, trust_ids, remember=False, tsa_roots=tsa_roots,
                            on_progress=meter.update)
    finally:
        meter.finish()
    if report.exit_code != ExitCode.OK:
        click.echo(terminal_safe(report.render_table()), err=True)
        _err(f"refusing to serve {path}: it failed verification (the report is above); "
             "--unverified serves it anyway, marked as such")
        raise SystemExit(report.exit_code)
    counts = report.counts
    _err(f"verified {path}: {counts['fail']} failed, {counts['warn']} warning(s)")


@cli.command("demo")
@click.argument("directory", required=False, type=PathArg(file_okay=False, path_type=Path))
def demo(directory: Path | None) -> None:
    """Offline demonstration: serve the demo site, snapshot, seal, verify, tamper, verify."""
    from provenance.cli import demo as demo_mod

    raise SystemExit(demo_mod.run(directory, _echo))


class _PrintableFormatter(logging.Formatter):
    """A log line as one printable line: its message may quote names from the case."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def _show_library_warnings() -> None:
    """Warnings the library logs (derived state rebuilt: provenance.custody.derived) go to
    stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PrintableFormatter("prov: warning: %(message)s"))
    logger = logging.getLogger("provenance")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)


def main() -> None:
    _show_library_warnings()
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        _err("aborted")
        sys.exit(ExitCode.USAGE)
    except click.ClickException as exc:
        shown = io.StringIO()
        exc.show(file=shown)
        click.echo(terminal_safe(shown.getvalue()), err=True, nl=False)
        sys.exit(ExitCode.USAGE)
    except ProvError as exc:
        _err(f"error: {exc}")
        if exc.hint:
            _err(f"hint: {exc.hint}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(130)
    except Exception as exc:  # a crash must never look like "tampering found"
        _err(f"internal error ({type(exc).__name__}): {exc}")
        if os.environ.get("PROV_DEBUG"):
            traceback.print_exc()
        else:
            _err("this is a bug in prov; set PROV_DEBUG=1 for a traceback")
        sys.exit(ExitCode.CRASH)
