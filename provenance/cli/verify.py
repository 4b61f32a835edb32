"""``prov verify`` and ``prov verify-warc``: the verdict on a case, a package, a proof or WARC
files made by any tool (docs/FORMATS.md, "Verify report"; exit codes in README).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from provenance.base.home import DEFAULT_KEY
from provenance.cli.options import (
    PathArg,
    _non_empty,
    _signing_key,
    endpoint_option,
    jobs_option,
)

if TYPE_CHECKING:
    from provenance.base.report import Report


@click.command("verify", short_help="Verify a case, WACZ, bag, disclosure package or proof.")
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
@click.option("--fixity", is_flag=True,
              help="A case only: every signature, the log, its checkpoints, the tokens and "
                   "each sealed file's SHA-256 against its seal, no record inflated (for "
                   "cron and buckets); the report says what it did not re-check and when your "
                   "last full verify of the case passed.")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="List passing checks too.")
@jobs_option
def verify(target: str, trust_files: tuple[Path, ...], trust_ids: tuple[str, ...],
           strict: bool, since: tuple[Path, ...], no_remember: bool,
           tsa_roots: tuple[Path, ...], record: bool,
           key_name: str, cosigner_name: str | None, as_kind: str | None, fixity: bool,
           as_json: bool, verbose: bool, jobs: int | None, allow_unanchored: bool) -> None:
    """Verify a case, a WACZ, a bag, a disclosure package or an inclusion proof:
    signatures, digests, seals, custody log, checkpoints, history.

    TARGET is any of: a case folder, or s3://BUCKET/PREFIX for a case in a bucket; a WACZ
    file (`prov export wacz`); a BagIt bag folder (`prov export bag`); a disclosure package
    folder (`prov disclose`); an inclusion proof (`prov log prove`). The kind is decided from
    what TARGET holds and named in the report; --as pins it.

    Exit 0 when everything verifies (warnings allowed unless --strict), 3 when something
    fails, 4 when TARGET is none of these."""
    hashes = None
    if fixity and not target.startswith("s3://"):
        # deferred: the case's files are hashed while the rest of the verifier loads
        from provenance.verification.fixity import Hashes

        hashes = Hashes.start(Path(target), jobs)
    try:
        _verify(target, trust_files, trust_ids, strict, since, no_remember, tsa_roots, record,
                key_name, cosigner_name, as_kind, fixity, hashes, as_json, verbose, jobs,
                allow_unanchored)
    finally:
        if hashes is not None:
            hashes.close()


def _verify(target: str, trust_files: tuple[Path, ...], trust_ids: tuple[str, ...],
            strict: bool, since: tuple[Path, ...], no_remember: bool,
            tsa_roots: tuple[Path, ...], record: bool, key_name: str,
            cosigner_name: str | None, as_kind: str | None, fixity: bool, hashes: Any,
            as_json: bool, verbose: bool, jobs: int | None, allow_unanchored: bool) -> None:
    # deferred: start-up of --help (verify --help and verify-warc never load the library)
    from provenance import api
    from provenance.cli.progress import VerifyProgress
    if record and cosigner_name is not None:
        api.check_cosigner_name(cosigner_name)  # before the passphrase prompt
    recording = (_signing_key(key_name), cosigner_name) if record else None
    progress = VerifyProgress(sys.stderr)
    try:
        report = api.verify(target if target.startswith("s3://") else Path(target),
                            trust_files, trust_ids, strict, since, not no_remember, recording,
                            tsa_roots=tsa_roots, jobs=jobs, on_progress=progress.update,
                            as_kind=as_kind, allow_unanchored=allow_unanchored,
                            fixity=fixity, hashes=hashes)
    finally:
        progress.finish()
    _show_report(report, as_json, verbose)


def _show_report(report: Report, as_json: bool, verbose: bool) -> None:
    # deferred: start-up of --help (verify --help loads no more than it must)
    from provenance.cli import render

    render.show_report(report, as_json=as_json, verbose=verbose)
    raise SystemExit(report.exit_code)


@click.command("verify-warc")
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
    # deferred: start-up of --help; verify-warc loads no case code (not even api)
    from provenance.cli.progress import VerifyProgress
    from provenance.verification.warcs import verify_warcs

    progress = VerifyProgress(sys.stderr)
    try:
        report = verify_warcs(list(files), strict=strict, jobs=jobs,
                              all_records=all_records, on_progress=progress.update)
    finally:
        progress.finish()
    _show_report(report, as_json, verbose or all_records)
