"""Dashboard sessions: a signed, expiring token in the cookie, never the API key.

The token is ``v1.<key id>.<expiry, unix seconds>.<MAC>`` where the MAC is
HMAC-SHA256, under the server's secret, of the key id, the key's SHA-256 (as
stored in the keys file) and the expiry. So a session:

- ends at its expiry (``api_session_ttl_s``, 8 h by default);
- ends when its key is removed from the keys file, or replaced under the same
  id (the stored digest is part of the MAC), on the next request: the keys
  file is re-read when it changes;
- cannot be forged or extended without the secret; it reveals the key id
  only.

The secret is ``api_session_secret`` (share it between API processes behind
one name), else 32 random bytes drawn when the app is built: a restart then
signs everyone out, which is the safe default.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Protocol

from tracelake.api.keys import ApiKey

VERSION = "v1"


class KeysById(Protocol):
    def by_id(self, key_id: str) -> ApiKey | None: ...


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class SessionSigner:
    """Issues and checks dashboard session tokens (see the module doc)."""

    def __init__(self, secret: str | None, ttl_s: float) -> None:
        self._secret = secret.encode() if secret else secrets.token_bytes(32)
        self.ttl_s = ttl_s

    def _mac(self, key: ApiKey, expiry: int) -> str:
        message = f"{VERSION}|{key.id}|{key.sha256}|{expiry}".encode()
        return _b64(hmac.new(self._secret, message, hashlib.sha256).digest())

    def issue(self, key: ApiKey, now: float | None = None) -> str:
        """A token for ``key`` valid for ``ttl_s`` seconds from ``now``."""
        expiry = int((time.time() if now is None else now) + self.ttl_s)
        return f"{VERSION}.{key.id}.{expiry}.{self._mac(key, expiry)}"

    def verify(self, token: str, keys: KeysById, now: float | None = None) -> ApiKey | None:
        """The key a token stands for; None when it is malformed, forged, expired or its key is gone.

        Never raises on any input.
        """
        version, _, rest = token.partition(".")
        parts = rest.rsplit(".", 2)
        if version != VERSION or len(parts) != 3 or not parts[1].isdigit() or len(parts[1]) > 12:
            return None
        key_id, expiry_text, mac = parts
        expiry = int(expiry_text)
        if expiry <= (time.time() if now is None else now):
            return None
        key = keys.by_id(key_id)
        if key is None or not hmac.compare_digest(self._mac(key, expiry), mac):
            return None
        return key
