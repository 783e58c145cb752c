"""A bad value in any TRACELAKE_* variable (or option) is one line naming it, exit 2, on every command."""

from __future__ import annotations

import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from tracelake.cli.main import main
from tracelake.errors import ConfigError
from tracelake.settings import Settings, env_name


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("TRACELAKE_"):
            monkeypatch.delenv(name)


def bad_value(field: str) -> str | None:
    """A value the field cannot take, or None when every string fits it (str, Path)."""
    annotation = Settings.model_fields[field].annotation
    kinds = set(typing.get_args(annotation)) | {annotation, typing.get_origin(annotation)}
    if kinds & {int, float, bool}:
        return "abc"
    if list in kinds:
        return "not-a-list"
    if field == "lake":  # a local path or an s3:// URL: any other URL is refused
        return "gs://bucket/lake"
    return None


TYPED = [field for field in Settings.model_fields if bad_value(field) is not None]


def test_only_text_and_path_settings_take_any_value() -> None:
    untyped = {field: Settings.model_fields[field].annotation for field in Settings.model_fields if field not in TYPED}
    assert set(untyped.values()) <= {str, str | None, Path, Path | None}, untyped
    assert Settings.model_fields["lake"].annotation == Path | str


@pytest.mark.parametrize("field", TYPED)
def test_every_setting_names_its_variable(field: str, monkeypatch: pytest.MonkeyPatch) -> None:
    value = bad_value(field)
    assert value is not None
    monkeypatch.setenv(env_name(field), value)
    with pytest.raises(ConfigError) as caught:
        Settings()
    message = str(caught.value)
    assert message.startswith(f"{env_name(field)}: ") and f"(got {value!r})" in message
    assert len(message.splitlines()) == 1


def test_the_message_names_the_problem_and_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELAKE_SQL_TIMEOUT_S", "abc")
    with pytest.raises(ConfigError, match=r"^TRACELAKE_SQL_TIMEOUT_S: Input should be a valid number, unable to "
                                          r"parse string as a number \(got 'abc'\)$"):
        Settings()
    monkeypatch.setenv("TRACELAKE_SQL_TIMEOUT_S", "-1")
    with pytest.raises(ConfigError, match=r"^TRACELAKE_SQL_TIMEOUT_S: Input should be greater than 0 \(got '-1'\)$"):
        Settings()


def test_a_bad_option_is_named_as_the_option() -> None:
    with pytest.raises(ConfigError, match=r"^--port: Input should be less than or equal to 65535 \(got 70000\)$"):
        Settings.from_options(api_port=70000, lake=None)
    with pytest.raises(ConfigError, match=r"^api_port: "):
        Settings(api_port=70000)  # from Python: the keyword's name


def test_an_option_wins_over_a_bad_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELAKE_API_PORT", "nope")
    assert Settings.from_options(api_port=9000).api_port == 9000


# Every subcommand, with required arguments and a variable it reads (or, for the commands that read no
# setting, any: every command checks the whole environment before it does anything).
COMMANDS: list[tuple[list[str], str, str]] = [
    (["ingest-file", "events.jsonl"], "TRACELAKE_MAX_EVENT_BYTES", "abc"),
    (["consume", "--bootstrap", "127.0.0.1:1"], "TRACELAKE_BATCH_MAX_EVENTS", "0"),
    (["redact"], "TRACELAKE_MAX_EVENT_BYTES", "1.5"),
    (["compact"], "TRACELAKE_DUCKDB_THREADS", "x"),
    (["lake", "check"], "TRACELAKE_QUERY_TIMEOUT_S", "x"),
    (["lake", "convert"], "TRACELAKE_LAKE", "gs://bucket/lake"),
    (["lake", "rollup"], "TRACELAKE_ROLLUP_INTERVAL_S", "-1"),
    (["retention", "plan"], "TRACELAKE_RETENTION_VACUUM_GRACE_H", "a day"),
    (["retention", "apply"], "TRACELAKE_RETENTION_VACUUM_GRACE_H", "-1"),
    (["erase", "--email", "a@example.com"], "TRACELAKE_QUERY_TIMEOUT_S", "later"),
    (["verify"], "TRACELAKE_CHAIN_SEAL_INTERVAL_S", "often"),
    (["chain", "keygen", "--key", "k.pem"], "TRACELAKE_CHAIN_SEAL_INTERVAL_S", "-1"),
    (["chain", "seal"], "TRACELAKE_QUERY_MAX_CONCURRENT", "many"),
    (["chain", "head"], "TRACELAKE_DUCKDB_THREADS", "two"),
    (["audit", "export", "r1"], "TRACELAKE_QUERY_TIMEOUT_S", "x"),
    (["audit", "verify", "events.jsonl", "--public-key", "k.pub"], "TRACELAKE_SQL_MAX_ROWS", "all"),
    (["flags", "set", "w", "pause", "--reason", "r"], "TRACELAKE_QUERY_TIMEOUT_S", "x"),
    (["flags", "get", "w"], "TRACELAKE_DUCKDB_THREADS", "x"),
    (["flags", "list"], "TRACELAKE_SQL_MAX_ROWS", "x"),
    (["flags", "history"], "TRACELAKE_QUERY_QUEUE_WAIT_S", "x"),
    (["metrics", "success_rate"], "TRACELAKE_QUERY_TIMEOUT_S", "abc"),
    (["sql", "select 1"], "TRACELAKE_SQL_TIMEOUT_S", "abc"),
    (["alerts", "run"], "TRACELAKE_ALERTS_WEBHOOK_RETRIES", "-1"),
    (["alerts", "schedule", "--cron", "* * * * *"], "TRACELAKE_ALERTS_WEBHOOK_TIMEOUT_S", "soon"),
    (["alerts", "compare", "--workflow", "w", "--baseline", "a", "--candidate", "b"], "TRACELAKE_RUN_MAX_DURATION_H",
     "a day"),
    (["controls", "list"], "TRACELAKE_QUERY_TIMEOUT_S", "abc"),
    (["controls", "run"], "TRACELAKE_RUN_MAX_DURATION_H", "x"),
    (["controls", "explain", "R"], "TRACELAKE_DUCKDB_THREADS", "x"),
    (["controls", "budgets"], "TRACELAKE_QUERY_MAX_CONCURRENT", "x"),
    (["api"], "TRACELAKE_API_PORT", "99999"),
    (["keys", "create", "--tenant", "t", "--role", "read"], "TRACELAKE_API_MAX_EVENTS", "many"),
    (["keys", "list"], "TRACELAKE_API_PAGE_LIMIT", "0"),
    (["demo", "--no-serve"], "TRACELAKE_SPOOL_MAX_BYTES", "lots"),  # the SDK's own variable
    (["kafka", "install"], "TRACELAKE_OTLP_TENANT_KEYS", "tenant"),
    (["kafka", "start"], "TRACELAKE_SDK_QUEUE_SIZE", "big"),
    (["flags", "get", "w"], "TRACELAKE_FLAGS_TTL_S", "soon"),  # the SDK's flag reader
    (["flags", "list"], "TRACELAKE_FLAGS_FAIL", "sideways"),
    (["s3", "install"], "TRACELAKE_API_COOKIE_SECURE", "perhaps"),
    (["s3", "start"], "TRACELAKE_QUERY_MAX_CONCURRENT", "two"),
    (["spark", "install"], "TRACELAKE_SQL_MAX_ROWS", "all"),
    (["spark", "metrics", "success_rate"], "TRACELAKE_RUN_MAX_DURATION_H", "a day"),
    (["schema"], "TRACELAKE_BATCH_MAX_AGE_S", "0"),
    (["validate", "events.jsonl"], "TRACELAKE_MAX_EVENT_BYTES", "0"),
]


def test_the_table_covers_every_subcommand() -> None:
    from tracelake.cli.main import cli

    def leaves(group: object, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
        out: set[tuple[str, ...]] = set()
        for name, command in group.commands.items():  # type: ignore[attr-defined]
            path = (*prefix, name)
            out |= leaves(command, path) if hasattr(command, "commands") else {path}
        return out

    assert all(any(args[:len(path)] == list(path) for args, _, _ in COMMANDS) for path in leaves(cli))


@pytest.mark.parametrize(("args", "variable", "value"), COMMANDS, ids=[" ".join(c[0][:2]) for c in COMMANDS])
def test_every_command_reports_a_bad_variable_in_one_line(args: list[str], variable: str, value: str,
                                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # nothing a command might create lands in the checkout
    (tmp_path / "events.jsonl").write_bytes(b"")
    monkeypatch.setenv(variable, value)
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tracelake: error: {variable}"), lines
    assert f"{value!r}" in lines[0]
    assert sorted(os.listdir(tmp_path)) == ["events.jsonl"]  # stopped before doing anything


def test_help_works_whatever_the_environment(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TRACELAKE_SQL_TIMEOUT_S", "abc")
    assert main(["sql", "--help"]) == 0
    assert "Usage:" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["sql", "select 1"], ["consume"]])
def test_as_a_user_runs_it_no_traceback(args: list[str], tmp_path: Path) -> None:
    """The issue's report, in a real process: a pydantic traceback for `sql`, one line for `consume`."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRACELAKE_")}
    result = subprocess.run([sys.executable, "-m", "tracelake.cli.main", *args, "--lake", str(tmp_path)],
                            capture_output=True, text=True, timeout=60,
                            env={**env, "TRACELAKE_SQL_TIMEOUT_S": "abc"})
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("tracelake: error: TRACELAKE_SQL_TIMEOUT_S: Input should be a valid number, unable to "
                             "parse string as a number (got 'abc')\n")
