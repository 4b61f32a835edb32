"""``prov log``, ``prov custody`` and ``prov timestamp``: the signed custody log, its proofs,
the custodians, and stamps left pending by a TSA outage.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from archive.errors import ExitCode, UsageError
from provenance import api
from provenance.base import timefmt
from provenance.cli import render
from provenance.cli.options import (
    PathArg,
    _after_change,
    _echo,
    _err,
    _signing_key,
    _stamper,
    case_option,
    key_option,
    publish_options,
)


@click.group()
def log() -> None:
    """The custody log."""


@log.command("show")
@case_option
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON instead of text.")
def log_show(case_path: str | None, as_json: bool) -> None:
    """Every custody entry: number, time, action, actor and the files it names."""
    render.show_log(api.iter_log_entries(api.open_case(case_path)),  # streamed: flat memory
                    as_json=as_json)


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


@click.group()
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
    render.show_custody(api.custody_chain(api.open_case(case_path)), as_json=as_json)


@click.command("timestamp")
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
