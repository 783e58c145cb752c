"""API keys and the TOML keys file of ``api.md``.

A key is ``tlk_`` + 43 url-safe base64 characters (32 random bytes). The file
holds only its SHA-256 hex digest, with an ``id``, a ``tenant`` (a name, or
``*`` for every tenant) and a ``role`` (``ingest``, ``read``, ``admin``)::

    [[keys]]                # one table per key; all four keys required, no others
    id = "acme-read"        # unique in the file
    tenant = "acme"         # or "*": every tenant
    role = "read"           # ingest, read or admin
    sha256 = "9f86d0…"      # 64 hex digits: SHA-256 of the key (never the key itself)

``keys`` is the only section; a file without it holds no keys.

Failure modes: :func:`load_keys` raises :class:`KeysFileError` (a
:class:`~tracelake.errors.ConfigError`, also a ``ValueError``) for a missing,
unreadable or malformed file, with one line naming the file, the entry and
the field, e.g. ``keys.toml: keys[2] (id 'ops').role: Input should be
'ingest', 'read' or 'admin'`` (entries counted from 1), so the server refuses
to start rather than run with a half-read key list. :func:`create_key` creates
the file with mode 0600 and refuses a duplicate id.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr

from tracelake.configfile import describe, load_toml_model
from tracelake.errors import ConfigError

Role = Literal["ingest", "read", "admin"]
ROLES: tuple[Role, ...] = ("ingest", "read", "admin")
KEY_PREFIX = "tlk_"
ALL_TENANTS = "*"
# Ids and tenants are written into TOML basic strings; keeping them to this
# alphabet means no escaping question ever arises.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")


class KeysFileError(ConfigError, ValueError):
    """The keys file cannot be used; the message names the file, the entry and the field."""


def _digest(value: str) -> str:
    digest = value.lower()
    if not _HEX.match(digest):
        raise ValueError("must be 64 hex digits (the SHA-256 of the key, never the key)")
    return digest


class KeyEntry(BaseModel):
    """One ``[[keys]]`` table of the file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: StrictStr
    tenant: StrictStr
    role: Role
    sha256: Annotated[StrictStr, AfterValidator(_digest)]  # stored lower-case


class KeysFile(BaseModel):
    """The whole keys file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keys: list[KeyEntry] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One stored key (never the key itself)."""

    id: str
    tenant: str
    role: Role
    sha256: str

    @property
    def all_tenants(self) -> bool:
        return self.tenant == ALL_TENANTS

    def can_ingest(self) -> bool:
        return self.role in ("ingest", "admin")

    def can_read(self) -> bool:
        return self.role in ("read", "admin")

    def sees(self, tenant: str | None) -> bool:
        return self.all_tenants or tenant == self.tenant


# The key local mode acts as: no file, every tenant, every role (api.md).
LOCAL_KEY = ApiKey(id="local", tenant=ALL_TENANTS, role="admin", sha256="")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """32 bytes from the OS's CSPRNG, url-safe, with the ``tlk_`` prefix."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def load_keys(path: str | os.PathLike[str]) -> dict[str, ApiKey]:
    """The keys of ``path`` by their SHA-256 digest.

    Raises :class:`KeysFileError` (one line: file, entry, field) when the file
    is missing, unreadable, not TOML, has a bad entry or repeats an id.
    """
    path = Path(path)
    data = load_toml_model(path, KeysFile, kind="keys file", error=KeysFileError,
                           missing_hint=" (create one with 'tracelake keys create')")
    keys: dict[str, ApiKey] = {}
    first_at: dict[str, int] = {}
    for number, entry in enumerate(data.keys):
        if entry.id in first_at:
            raise KeysFileError(describe(str(path), ("keys", number, "id"),
                                         f"duplicate id {entry.id!r} (also keys[{first_at[entry.id] + 1}])",
                                         {"keys": [e.model_dump() for e in data.keys]}))
        first_at[entry.id] = number
        keys[entry.sha256] = ApiKey(id=entry.id, tenant=entry.tenant, role=entry.role, sha256=entry.sha256)
    return keys


def check_name(kind: str, value: str, allow_all: bool = False) -> str:
    if allow_all and value == ALL_TENANTS:
        return value
    if not _NAME.match(value):
        raise KeysFileError(f"{kind} {value!r}: use letters, digits and . _ : @ - (at most 128)")
    return value


def create_key(path: str | os.PathLike[str], tenant: str, role: Role, key_id: str | None = None) -> tuple[str, ApiKey]:
    """Generate a key, append its entry to ``path`` (created 0600), return (key, entry)."""
    path = Path(path)
    check_name("tenant", tenant, allow_all=True)
    if role not in ROLES:
        raise KeysFileError(f"role must be one of {', '.join(ROLES)}")
    existing = load_keys(path) if path.exists() else {}
    ids = {k.id for k in existing.values()}
    if key_id is None:
        base = f"{'all' if tenant == ALL_TENANTS else tenant}-{role}"
        key_id = base
        for n in range(2, len(ids) + 3):
            if key_id not in ids:
                break
            key_id = f"{base}-{n}"
    check_name("id", key_id)
    if key_id in ids:
        raise KeysFileError(f"id {key_id!r} already exists in {path}")
    key = new_key()
    entry = ApiKey(id=key_id, tenant=tenant, role=role, sha256=hash_key(key))
    text = (f'\n[[keys]]\nid = "{entry.id}"\ntenant = "{entry.tenant}"\nrole = "{entry.role}"\n'
            f'sha256 = "{entry.sha256}"\n')
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_CREAT with 0600: the file is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    return key, entry
