"""``prov keys`` and ``prov tsa``: signing keys, the keys you trust, the TSA roots you trust.
A key's passphrase is asked on a terminal only (docs/SECURITY.md, "Keys").
"""

from __future__ import annotations

from pathlib import Path

import click

from provenance import api
from provenance.base import timefmt
from provenance.cli.options import (
    PathArg,
    _after_change,
    _echo,
    _err,
    _prompt,
    _signing_key,
    _stamper,
    case_option,
    key_option,
    named_key_option,
    publish_options,
)
from provenance.errors import KeyFileError
from provenance.signing.keys import env_passphrase, key_path


@click.group()
def keys() -> None:
    """Signing keys ($PROV_HOME/keys) and the keys you trust ($PROV_HOME/trusted)."""


@keys.command("generate")
@named_key_option
@click.option("--unsafe-no-passphrase", is_flag=True,
              help="Store the private key unencrypted: anyone who can read the file can sign "
                   "as you. For throwaway keys only.")
def keys_generate(key_name: str, unsafe_no_passphrase: bool) -> None:
    """Make an Ed25519 signing key and trust it for this user."""
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


@click.group()
def tsa() -> None:
    """Time-stamp authorities you trust ($PROV_HOME/tsa-roots)."""


@tsa.command("trust")
@click.argument("root_pem", type=PathArg(dir_okay=False, path_type=Path))
def tsa_trust(root_pem: Path) -> None:
    """Trust a TSA root certificate for verification."""
    for fp in api.trust_tsa_root(root_pem):
        _echo(fp)
