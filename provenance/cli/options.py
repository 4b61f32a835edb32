"""Options, arguments and helpers shared by the commands of ``prov``: how a key, a case, a
TSA or a path is named on the command line, and how every line prov writes is made safe for a
terminal (names in it come from cases, packages and pages an attacker may have written).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from provenance.base.home import DEFAULT_KEY
from provenance.base.terminal import printable, safe_json, terminal_safe

if TYPE_CHECKING:
    from provenance.custody.stamping import Stamper
    from provenance.signing.keys import SigningKey

F = TypeVar("F", bound=Callable[..., Any])


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
    # deferred: start-up of --help (prov verify --help never loads the library)
    from provenance import api

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
    # deferred: start-up of --help (prov verify --help never loads the library)
    from provenance import api
    note = api.latest_checkpoint(case)
    if print_checkpoint:
        _echo(api.checkpoint_line(case).one_line())
    if publish:
        api.publish_checkpoint(publish, note)


def _stamper(case_root: Path | None, tsa: tuple[str, ...], timeout: float) -> Stamper:
    # deferred: start-up of prov verify (as api, which loads stamping only to change a case)
    from provenance.custody.stamping import Stamper, configured_tsas

    return Stamper(configured_tsas(case_root, tsa), timeout=timeout)


def _say_unstamped(capture: str, unstamped: Sequence[tuple[str, str]],
                   tsa: tuple[str, ...]) -> None:
    """Say on stderr that a seal the operator wanted stamped is not (the exit code is not
    changed: the stamp is logged as pending, README "Exit codes")."""
    # deferred: start-up of prov verify (as api, which loads stamping only to change a case)
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
    # deferred: start-up of --help (prov verify --help never loads the library)
    from provenance import api

    return api.load_key(name, _prompt(), case)


def _print_json(value: Any) -> None:
    click.echo(safe_json(json.dumps(value, indent=2, ensure_ascii=False)))


def _print_json_array(items: Iterable[Any]) -> None:
    """A JSON array printed element by element, as ``_print_json`` prints a list (the same
    bytes): the items are never all held at once."""
    opened = False
    for item in items:
        text = json.dumps(item, indent=2, ensure_ascii=False).replace("\n", "\n  ")
        click.echo(safe_json(("[\n  " if not opened else ",\n  ") + text), nl=False)
        opened = True
    click.echo("\n]" if opened else "[]")
