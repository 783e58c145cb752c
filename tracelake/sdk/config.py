"""SDK configuration: constructor arguments first, then ``TRACELAKE_*`` variables.

One object for the emitter (:class:`~tracelake.sdk.Client`) and the flag reader
(:class:`~tracelake.sdk.flags.FlagReader`, :class:`~tracelake.sdk.flags.HttpFlagSource`): the API URL and key
the agent talks to, how often flags are refreshed, how old they may get, and whether a stale reader fails open
or closed.

Deliberately a plain dataclass, not the pipeline's pydantic-settings object:
an agent that only emits should not import more than it needs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import ClassVar

DEFAULT_TOPIC = "tracelake.events.v1"


def _default_spool_dir() -> str:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return os.path.join(state, "tracelake", "spool")


def _env_bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class SdkConfig:
    """Every knob of the emitter. ``None`` for ``bootstrap`` means "no Kafka
    configured": events are kept in the spool until a client with a broker
    re-sends them."""

    bootstrap: str | None = None
    topic: str = DEFAULT_TOPIC
    spool_dir: str = field(default_factory=_default_spool_dir)
    spool_max_bytes: int = 256 * 1024 * 1024
    spool_fsync: bool = True
    queue_size: int = 100_000  # ~50 MB at 500 B/event; overflow goes to the spool
    batch_size: int = 1000
    send_timeout_s: float = 5.0
    validate: bool = False
    # The tracelake API the agent reads from (its flags: docs/flags.md), and the key it shows (an ingest key).
    api_url: str | None = None
    api_key: str | None = None
    flags_refresh_s: float = 5.0  # seconds between two background refreshes of the flags
    flags_ttl_s: float = 60.0  # how old the last good answer may be before the fail mode applies
    flags_fail: str = "open"  # open: a stale reader allows every run; closed: it pauses every workflow
    flags_timeout_s: float = 2.0  # bound on one refresh request

    # Environment variable for each field (the SDK reads no others).
    ENV: ClassVar[dict[str, str]] = {
        "bootstrap": "TRACELAKE_KAFKA_BOOTSTRAP",
        "topic": "TRACELAKE_TOPIC",
        "spool_dir": "TRACELAKE_SPOOL_DIR",
        "spool_max_bytes": "TRACELAKE_SPOOL_MAX_BYTES",
        "spool_fsync": "TRACELAKE_SPOOL_FSYNC",
        "queue_size": "TRACELAKE_SDK_QUEUE_SIZE",
        "batch_size": "TRACELAKE_SDK_BATCH_SIZE",
        "send_timeout_s": "TRACELAKE_SDK_SEND_TIMEOUT_S",
        "validate": "TRACELAKE_SDK_VALIDATE",
        "api_url": "TRACELAKE_API_URL",
        "api_key": "TRACELAKE_API_KEY",
        "flags_refresh_s": "TRACELAKE_FLAGS_REFRESH_S",
        "flags_ttl_s": "TRACELAKE_FLAGS_TTL_S",
        "flags_fail": "TRACELAKE_FLAGS_FAIL",
        "flags_timeout_s": "TRACELAKE_FLAGS_TIMEOUT_S",
    }
    _INTS: ClassVar[frozenset[str]] = frozenset({"spool_max_bytes", "queue_size", "batch_size"})
    _FLOATS: ClassVar[frozenset[str]] = frozenset({"send_timeout_s", "flags_refresh_s", "flags_ttl_s",
                                                   "flags_timeout_s"})
    # Durations that must be positive (a zero refresh would spin; a zero TTL would make every answer stale).
    _POSITIVE: ClassVar[frozenset[str]] = frozenset({"flags_refresh_s", "flags_ttl_s", "flags_timeout_s"})
    FAIL_MODES: ClassVar[tuple[str, ...]] = ("open", "closed")

    @classmethod
    def resolve(cls, **overrides: object) -> SdkConfig:
        """Arguments that are not ``None`` win, then the environment, then defaults.

        Raises ``ValueError`` in one line naming the variable when an environment value has the wrong type or
        is out of range (a configuration mistake the agent author must see), naming the argument when an
        argument is out of range.
        """
        config = cls()
        for f in fields(cls):
            value = overrides.get(f.name)
            if value is None and (raw := os.environ.get(cls.ENV[f.name])):
                try:
                    value = _env_bool(raw) if isinstance(getattr(config, f.name), bool) else raw
                    if f.name in cls._INTS:
                        value = int(raw)
                    elif f.name in cls._FLOATS:
                        value = float(raw)
                    cls._check(f.name, value)
                except ValueError as exc:
                    why = f": {exc}" if str(exc).startswith("must") else ""
                    raise ValueError(f"{cls.ENV[f.name]}={raw!r} is not a valid {f.name}{why}") from None
            elif value is not None:
                try:
                    cls._check(f.name, value)
                except ValueError as exc:
                    raise ValueError(f"{f.name}={value!r}: {exc}") from None
            if value is not None:
                setattr(config, f.name, value)
        return config

    @classmethod
    def _check(cls, name: str, value: object) -> None:
        """``ValueError`` ("must …") for a value out of range."""
        if name in cls._POSITIVE and not (isinstance(value, int | float) and 0 < value < float("inf")):
            raise ValueError("must be a positive number of seconds")
        if name == "flags_fail" and value not in cls.FAIL_MODES:
            raise ValueError(f"must be one of {', '.join(cls.FAIL_MODES)}")
