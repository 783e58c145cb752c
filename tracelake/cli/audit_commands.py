"""Tamper evidence and evidence bundles on the command line: ``verify``, ``chain keygen|seal|head``,
``audit export|verify`` (``cli.md``, ``docs/governance.md``).

Registered on the ``tracelake`` group by :mod:`tracelake.cli.main`; the governance modules are imported
inside the commands. Exit codes of ``verify`` and ``audit verify``: 0 clean (valid), 1 tampered,
3 unverifiable; 2 stays the usage/input error of every command (:mod:`tracelake.cli.errors`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tracelake.cli.options import command, format_option, group, lake_of, lake_option, settings, tenant_option
from tracelake.cli.output import emit
from tracelake.errors import NotFound, Unavailable, UserError

if TYPE_CHECKING:
    from tracelake.governance.signing import PublicKey, SigningKey
    from tracelake.lake.lake import Lake

public_key_option = click.option(
    "--public-key", type=click.Path(dir_okay=False), default=None, metavar="FILE",
    help="Check signatures with this public key (default: the one the lake publishes; an attacker who can "
         "write the lake can replace that one).")


def _public_key(path: str | None) -> PublicKey | None:
    from tracelake.governance.signing import load_public_key

    return None if path is None else load_public_key(Path(path))


def _signing_key(key_file: str | None, the_lake: Lake, configured: Path | None) -> SigningKey | None:
    from tracelake.governance.signing import configured_key

    chosen = Path(key_file) if key_file is not None else configured
    return configured_key(chosen, None if the_lake.is_remote else the_lake.resolved)


@command()
@lake_option
@public_key_option
@click.option("--expect-head", default=None, metavar="HASH",
              help="An anchored head hash (from 'tracelake chain head'): tampered when the chain no longer holds it.")
@click.option("--head", "head_only", is_flag=True, help="Print only the chain's head hash (for anchoring).")
@format_option
def verify(lake: str | None, public_key: str | None, expect_head: str | None, head_only: bool,
           fmt: str | None) -> None:
    """Check the commit chain, every Delta commit and every live data file of the lake against each other.

    Exit 0 clean, 1 tampered, 3 unverifiable (commits not sealed yet, no public key). One finding per row.
    """
    from tracelake.governance.verify import read_chain, verify_lake

    the_lake = lake_of(settings(lake=lake))
    if not the_lake.is_remote and not the_lake.resolved.is_dir():
        raise UserError(f"no lake at {the_lake} (pass --lake or set TRACELAKE_LAKE)")
    try:
        if head_only:
            click.echo(read_chain(the_lake).head)
            return
        report = verify_lake(the_lake, _public_key(public_key), expect_head)
    except OSError as exc:
        raise Unavailable(f"cannot read the lake to verify it: {exc}") from None
    summary = report.as_dict()
    if (fmt or "") == "json" or (fmt is None and not sys.stdout.isatty()):
        emit(summary, "json")
    else:
        for finding in report.findings:
            click.echo(finding.line())
        click.echo(f"{report.status}: {report.entries} chain entries, {report.files_checked} files "
                   f"({report.bytes_hashed} bytes) checked in {report.seconds:.1f} s; head {report.head}")
    sys.exit(report.exit_code)


@group()
def chain() -> None:
    """The commit chain: make a signing key, seal new commits, print the head hash for anchoring."""


@chain.command("keygen")
@lake_option
@click.option("--key", "key_file", type=click.Path(dir_okay=False), required=True, metavar="FILE",
              help="Where to write the private key (0600; outside the lake). The public key goes to FILE.pub.")
@format_option
def chain_keygen(lake: str | None, key_file: str, fmt: str | None) -> None:
    """Write a new Ed25519 key pair for the chain; point TRACELAKE_CHAIN_KEY_FILE at the private key."""
    from tracelake.governance.signing import generate

    the_lake = lake_of(settings(lake=lake))
    key = generate(Path(key_file), lake_root=None if the_lake.is_remote else the_lake.resolved)
    emit({"private_key": key_file, "public_key": f"{key_file}.pub", "key_id": key.key_id}, fmt)


@chain.command("seal")
@lake_option
@click.option("--key", "key_file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="The private key (TRACELAKE_CHAIN_KEY_FILE).")
@format_option
def chain_seal(lake: str | None, key_file: str | None, fmt: str | None) -> None:
    """Append a signed chain entry for every commit of the lake not sealed yet. Safe while others seal."""
    from tracelake.governance.seal import seal_lake

    config = settings(lake=lake)
    the_lake = lake_of(config)
    key = _signing_key(key_file, the_lake, config.chain_key_file)
    if key is None:
        raise UserError("no chain key: pass --key FILE or set TRACELAKE_CHAIN_KEY_FILE "
                        "('tracelake chain keygen' makes one)")
    try:
        report = seal_lake(the_lake, key)
    except OSError as exc:
        raise Unavailable(f"cannot seal the lake: {exc}") from None
    emit(report.as_dict(), fmt)


@chain.command("head")
@lake_option
@format_option
def chain_head(lake: str | None, fmt: str | None) -> None:
    """Print the chain's head: its last entry's hash and seq (anchor it elsewhere; verify --expect-head)."""
    from tracelake.governance.verify import read_chain

    try:
        state = read_chain(lake_of(settings(lake=lake)))
    except OSError as exc:
        raise Unavailable(f"cannot read the chain: {exc}") from None
    emit({"head": state.head, "seq": state.next_seq - 1,
          "sealed_at": state.entries[-1].sealed_at if state.entries else None}, fmt)


@group()
def audit() -> None:
    """Evidence bundles: export one run's signed evidence, verify a bundle offline."""


@audit.command("export")
@click.argument("run_id")
@lake_option
@tenant_option
@click.option("--out", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Write the bundle here (default: stdout).")
@click.option("--key", "key_file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Sign with this private key (TRACELAKE_CHAIN_KEY_FILE; unset: an unsigned bundle).")
def audit_export(run_id: str, lake: str | None, tenant: str | None, out: str | None, key_file: str | None) -> None:
    """The evidence bundle of RUN_ID: its redacted timeline, decisions, covering chain entries, signed."""
    from tracelake.governance.evidence import build_bundle, dumps
    from tracelake.queries.engine import open_lake

    config = settings(lake=lake)
    the_lake = lake_of(config)
    key = _signing_key(key_file, the_lake, config.chain_key_file)
    try:
        with open_lake(the_lake, tenant=tenant) as con:
            bundle = build_bundle(the_lake, con, run_id, key, tenant)
    except OSError as exc:
        raise Unavailable(f"cannot read the lake: {exc}") from None
    if bundle is None:
        raise NotFound(f"no run {run_id!r}{' for tenant ' + repr(tenant) if tenant else ''}")
    if key is None:
        click.echo("tracelake: warning: no chain key configured: the bundle is not signed", err=True)
    data = dumps(bundle)
    if out is None:
        click.echo(data.decode())
    else:
        Path(out).write_bytes(data + b"\n")


@audit.command("verify")
@click.argument("bundle", type=click.Path(dir_okay=False, exists=True))
@click.option("--public-key", type=click.Path(dir_okay=False), required=True, metavar="FILE",
              help="The chain's public key (from the lake's owner, not from the bundle).")
@format_option
def audit_verify(bundle: str, public_key: str, fmt: str | None) -> None:
    """Check an evidence bundle offline: its signature, its chain entries, its file hashes. Exit 0 valid,
    1 tampered, 3 unverifiable (unsigned, or files not sealed when exported)."""
    import orjson

    from tracelake.governance.evidence import check_bundle
    from tracelake.governance.signing import load_public_key

    key = load_public_key(Path(public_key))
    try:
        parsed = orjson.loads(Path(bundle).read_bytes())
    except orjson.JSONDecodeError as exc:
        raise UserError(f"{bundle}: not JSON ({exc})") from None
    result = check_bundle(parsed, key)
    emit({"status": result.status, "problems": result.problems, "notes": result.notes}, fmt)
    sys.exit(result.exit_code)
