"""``tracelake api`` and ``tracelake keys create|list`` (cli.md, api.md).

Registered on the ``tracelake`` group by :mod:`tracelake.cli.main`; FastAPI
and uvicorn are imported inside ``api``. A keys file that cannot be read is
a :class:`~tracelake.api.keys.KeysFileError` (a ``ConfigError``): one line, exit 2.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from tracelake.cli.options import command, format_option, group, lake_option, settings
from tracelake.cli.output import emit
from tracelake.errors import UserError

keys_option: Callable[[Any], Any] = click.option(
    "--keys", type=click.Path(dir_okay=False), default=None, help="Keys file (TRACELAKE_API_KEYS_FILE).")


def _keys_path(keys: str | None) -> Path:
    path = settings(api_keys_file=keys).api_keys_file
    if path is None:
        raise UserError("no keys file: pass --keys FILE or set TRACELAKE_API_KEYS_FILE")
    return path


@command()
@lake_option
@click.option("--host", default=None, help="Address to bind (TRACELAKE_API_HOST; default 127.0.0.1). "
              "Without a keys file only 127.0.0.1 is used.")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (TRACELAKE_API_PORT; default 8000).")
@click.option("--keys", type=click.Path(dir_okay=False), default=None,
              help="TOML keys file (TRACELAKE_API_KEYS_FILE); without one: local mode, no keys, 127.0.0.1 only.")
def api(lake: str | None, host: str | None, port: int | None, keys: str | None) -> None:
    """Serve the HTTP API of api.md."""
    from tracelake.api.server import serve

    config = settings(lake=lake, api_host=host, api_port=port, api_keys_file=keys)
    serve(config)


@group()
def keys() -> None:
    """API keys (api.md)."""


@keys.command("create")
@click.option("--tenant", required=True)
@click.option("--role", required=True, type=click.Choice(["ingest", "read", "admin"]))
@click.option("--id", "key_id", default=None)
@keys_option
def keys_create(tenant: str, role: str, key_id: str | None, keys: str | None) -> None:
    """Generate a key, store its hash, print it once."""
    from tracelake.api.keys import create_key

    path = _keys_path(keys)
    key, entry = create_key(path, tenant, role, key_id)  # type: ignore[arg-type]
    # The key goes to stdout once (scripts capture it); the note goes to stderr.
    click.echo(key)
    click.echo(f"key {entry.id} (tenant {entry.tenant}, role {entry.role}) added to {path}; "
               "it is not stored and cannot be shown again", err=True)


@keys.command("list")
@keys_option
@format_option
def keys_list(keys: str | None, fmt: str | None) -> None:
    """List key ids, tenants and roles (never keys)."""
    from tracelake.api.keys import load_keys

    path = _keys_path(keys)
    entries = load_keys(path)
    emit([{"id": k.id, "tenant": k.tenant, "role": k.role} for k in entries.values()], fmt)
