"""Who is calling: the key of ``Authorization: Bearer`` or ``X-API-Key``.

Contract (api.md): with a keys file every ``/v1`` request needs a known key
(else ``401 unauthorized``); the key's role must allow the route (else ``403
forbidden``). Without a keys file (local mode) every request acts as an
all-tenant admin. The file is re-read when its modification time changes,
so ``tracelake keys create`` takes effect without a restart; a file that has
become unreadable keeps the last good key list (and says so in the log).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from tracelake.api.keys import LOCAL_KEY, ApiKey, KeysFileError, hash_key, load_keys
from tracelake.errors import Forbidden, Unauthorized

log = logging.getLogger("tracelake.api")

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer tlk_…")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: tlk_…")


class KeyStore:
    """The keys file, loaded at start and reloaded when it changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._mtime: int | None = None
        self._keys: dict[str, ApiKey] = {}
        if path is not None:
            self._keys = load_keys(path)  # a bad file stops the server at start
            self._mtime = self._stat()

    @property
    def local_mode(self) -> bool:
        return self.path is None

    def _stat(self) -> int | None:
        try:
            return os.stat(self.path).st_mtime_ns if self.path else None
        except OSError:
            return None

    def _refresh(self) -> None:
        mtime = self._stat()
        if mtime == self._mtime or mtime is None:
            return
        with self._lock:
            if mtime == self._mtime:
                return
            try:
                self._keys = load_keys(self.path)  # type: ignore[arg-type]
                log.info("keys file %s reloaded: %d keys", self.path, len(self._keys))
            except KeysFileError as exc:
                log.error("keeping the previous keys: %s", exc)
            self._mtime = mtime

    def lookup(self, key: str) -> ApiKey | None:
        self._refresh()
        return self._keys.get(hash_key(key))

    def by_id(self, key_id: str) -> ApiKey | None:
        """The key with this id in the current keys file (re-read when changed), or None."""
        self._refresh()
        return next((key for key in self._keys.values() if key.id == key_id), None)

    def __len__(self) -> int:
        return len(self._keys)


def caller(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header)],
) -> ApiKey:
    """The calling key, or ``401``."""
    store: KeyStore = request.app.state.ctx.keys
    if store.local_mode:
        return LOCAL_KEY
    presented = (bearer.credentials if bearer else None) or header_key
    if not presented:
        raise Unauthorized("no API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                           headers={"WWW-Authenticate": "Bearer"})
    key = store.lookup(presented.strip())
    if key is None:
        raise Unauthorized("unknown API key", headers={"WWW-Authenticate": "Bearer"})
    return key


def _require(action: str, allowed: Callable[[ApiKey], bool]) -> Callable[..., ApiKey]:
    def dependency(key: Annotated[ApiKey, Depends(caller)]) -> ApiKey:
        if not allowed(key):
            raise Forbidden(f"key {key.id} (role {key.role}) may not {action}")
        return key

    return dependency


# Route parameters: ``key: IngestKey`` etc. (Annotated keeps Depends out of defaults).
IngestKey = Annotated[ApiKey, Depends(_require("ingest events", ApiKey.can_ingest))]
ReadKey = Annotated[ApiKey, Depends(_require("read", ApiKey.can_read))]
AdminKey = Annotated[ApiKey, Depends(_require("run alert comparisons (needs role admin)", lambda k: k.role == "admin"))]
# Agents hold ingest keys and must read their workflows' flags (docs/flags.md): any role may.
FlagsKey = Annotated[ApiKey, Depends(_require("read flags", lambda k: k.can_ingest() or k.can_read()))]
SetFlagsKey = Annotated[ApiKey, Depends(_require("set flags (needs role admin)", lambda k: k.role == "admin"))]


def check_tenant(key: ApiKey, tenant: str) -> None:
    """``403`` when a request names a tenant the key does not cover."""
    if not key.sees(tenant):
        raise Forbidden(f"key {key.id} may not read tenant {tenant}")
