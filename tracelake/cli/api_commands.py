"""``tracelake api`` and ``tracelake keys create|list`` (cli.md, api.md)."""

from __future__ import annotations

import click

from tracelake.cli.output import CliError, emit
from tracelake.settings import Settings


def _settings(**options: object) -> Settings:
    try:
        return Settings.from_options(**options)
    except ValueError as exc:
        raise CliError(f"bad setting: {exc}".splitlines()[0]) from None


def _keys_path(keys: str | None) -> Settings:
    settings = _settings(api_keys_file=keys)
    if settings.api_keys_file is None:
        raise CliError("no keys file: pass --keys FILE or set TRACELAKE_API_KEYS_FILE")
    return settings


def api(lake: str | None, host: str | None, port: int | None, keys: str | None) -> None:
    from tracelake.api.keys import KeysFileError
    from tracelake.api.server import serve

    settings = _settings(lake=lake, api_host=host, api_port=port, api_keys_file=keys)
    try:
        serve(settings)
    except KeysFileError as exc:
        raise CliError(str(exc)) from None


def keys_create(tenant: str, role: str, key_id: str | None, keys: str | None) -> None:
    from tracelake.api.keys import KeysFileError, create_key

    path = _keys_path(keys).api_keys_file
    try:
        key, entry = create_key(path, tenant, role, key_id)  # type: ignore[arg-type]
    except KeysFileError as exc:
        raise CliError(str(exc)) from None
    # The key goes to stdout once (scripts capture it); the note goes to stderr.
    click.echo(key)
    click.echo(f"key {entry.id} (tenant {entry.tenant}, role {entry.role}) added to {path}; "
               "it is not stored and cannot be shown again", err=True)


def keys_list(keys: str | None, fmt: str | None) -> None:
    from tracelake.api.keys import KeysFileError, load_keys

    path = _keys_path(keys).api_keys_file
    try:
        entries = load_keys(path)  # type: ignore[arg-type]
    except KeysFileError as exc:
        raise CliError(str(exc)) from None
    emit([{"id": k.id, "tenant": k.tenant, "role": k.role} for k in entries.values()], fmt)
