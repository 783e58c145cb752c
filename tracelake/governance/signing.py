"""Ed25519 keys of the commit chain: generate a pair, load them, sign and check a digest.

The private key is a PKCS#8 PEM file outside the lake (``TRACELAKE_CHAIN_KEY_FILE``); the public key is a
SubjectPublicKeyInfo PEM file, published into the lake (``<lake>/_tracelake/chain.pub``) and handed to
auditors. A key's *id* is the first 16 hex digits of the SHA-256 of its raw 32 public bytes: every chain
entry and evidence bundle names the key that signed it.

Failure modes: :class:`tracelake.errors.ConfigError` (one line naming the file) for a key file that is
missing, unreadable, not an Ed25519 key, or (private key) inside a local lake; :func:`check` returns False
for a bad signature, it never raises.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tracelake.errors import ConfigError, UserError


@dataclass(frozen=True)
class PublicKey:
    """A public key that checks chain and bundle signatures."""

    key: Ed25519PublicKey

    @property
    def key_id(self) -> str:
        return key_id(self.key)

    def pem(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def check(self, digest: bytes, signature_hex: str) -> bool:
        """Whether ``signature_hex`` is this key's signature of ``digest`` (False for anything malformed)."""
        try:
            self.key.verify(bytes.fromhex(signature_hex), digest)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class SigningKey:
    """A private key that signs chain entries and evidence bundles."""

    key: Ed25519PrivateKey

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.key.public_key())

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, digest: bytes) -> str:
        """The hex Ed25519 signature of ``digest``."""
        return self.key.sign(digest).hex()


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate(private_path: Path, public_path: Path | None = None, *, lake_root: Path | None = None) -> SigningKey:
    """Write a new key pair: the private key at ``private_path`` (mode 0600, refused when it exists or lies in
    ``lake_root``), the public key at ``public_path`` (default: ``<private_path>.pub``)."""
    refuse_inside(private_path, lake_root)
    if private_path.exists():
        raise UserError(f"{private_path} exists; refusing to overwrite a signing key (move it away first)")
    signing = SigningKey(Ed25519PrivateKey.generate())
    pem = signing.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    private_path.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600 from the start (no window where another user could read it).
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    (public_path or private_path.with_name(private_path.name + ".pub")).write_bytes(signing.public.pem())
    return signing


def refuse_inside(path: Path, lake_root: Path | None) -> None:
    """Raise :class:`ConfigError` when ``path`` lies inside the local lake ``lake_root``: whoever can write the
    lake could then also re-sign what they changed."""
    if lake_root is None:
        return
    where, root = path.expanduser().resolve(), lake_root.expanduser().resolve()
    if where == root or root in where.parents:
        raise ConfigError(f"chain key {path} is inside the lake {lake_root}; keep the private key outside it")


def load_signing_key(path: Path, *, lake_root: Path | None = None) -> SigningKey:
    """The private key at ``path``; :class:`ConfigError` for a missing or bad file or one inside the lake."""
    refuse_inside(path, lake_root)
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise ConfigError(f"chain key {path}: cannot read it ({exc.strerror or exc})") from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"chain key {path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ConfigError(f"chain key {path}: not an Ed25519 key")
    return SigningKey(loaded)


def parse_public_key(data: bytes, where: str) -> PublicKey:
    """A public key from PEM ``data``; :class:`ConfigError` naming ``where`` when it is not an Ed25519 key."""
    try:
        loaded = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"public key {where}: not a PEM public key ({exc})") from None
    if not isinstance(loaded, Ed25519PublicKey):
        raise ConfigError(f"public key {where}: not an Ed25519 key")
    return PublicKey(loaded)


def load_public_key(path: Path) -> PublicKey:
    """The public key at ``path``; :class:`ConfigError` for a missing or bad file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"public key {path}: cannot read it ({exc.strerror or exc})") from None
    return parse_public_key(data, str(path))


def configured_key(path: Path | None, lake_root: Path | None) -> SigningKey | None:
    """The chain key of the settings (``TRACELAKE_CHAIN_KEY_FILE``); None when none is configured.
    ``lake_root``: the local lake's root (the key must not lie in it), None for an ``s3://`` lake."""
    return None if path is None else load_signing_key(path, lake_root=lake_root)
