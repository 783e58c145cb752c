"""SDK configuration: constructor arguments first, then ``TRACELAKE_*`` variables.

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
    }

    @classmethod
    def resolve(cls, **overrides: object) -> SdkConfig:
        """Arguments that are not ``None`` win, then the environment, then defaults.

        Raises ``ValueError`` naming the variable when an environment value has
        the wrong type (a configuration mistake the agent author must see).
        """
        config = cls()
        for f in fields(cls):
            value = overrides.get(f.name)
            if value is None and (raw := os.environ.get(cls.ENV[f.name])):
                try:
                    value = _env_bool(raw) if isinstance(getattr(config, f.name), bool) else raw
                    if f.name in {"spool_max_bytes", "queue_size", "batch_size"}:
                        value = int(raw)
                    elif f.name == "send_timeout_s":
                        value = float(raw)
                except ValueError:
                    raise ValueError(f"{cls.ENV[f.name]}={raw!r} is not a valid {f.name}") from None
            if value is not None:
                setattr(config, f.name, value)
        return config
