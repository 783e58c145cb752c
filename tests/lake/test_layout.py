"""Partition and file naming, the Lake object, and the refusal of a URL-shaped lake."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from tracelake.errors import ConfigError
from tracelake.lake.lake import Lake, as_lake
from tracelake.lake.layout import (
    check_location,
    data_file_name,
    is_data_file,
    is_url,
    parse_partition,
    partition_dir,
    partition_name,
)
from tracelake.lake.tables import ALERTS, EVENTS
from tracelake.settings import Settings


def test_partition_names_round_trip() -> None:
    assert partition_name("2026-11-24") == "event_date=2026-11-24" == partition_name(date(2026, 11, 24))
    assert parse_partition("event_date=2026-11-24") == date(2026, 11, 24)
    for odd in ("event_date=2026-13-45", "event_date=x", "other=2026-11-24", "event_date=2026-11-24.tmp"):
        assert parse_partition(odd) is None
    with pytest.raises(ValueError):
        partition_name("../escape")
    assert partition_dir("/lake", "events", "2026-11-24") == Path("/lake/events/event_date=2026-11-24")


def test_data_file_names() -> None:
    assert data_file_name("b1") == "b1.parquet" and is_data_file("b1.parquet")
    assert not is_data_file(".b1.1234.tmp") and not is_data_file(".b1.parquet") and not is_data_file("x.json")


@pytest.mark.parametrize("url", ["gs://b/l", "http://host/l", "https://h/l", "file:///tmp/l",
                                 "abfss://c@a.dfs.core.windows.net/l", "weird+scheme://x"])
def test_a_url_other_than_s3_is_refused_everywhere(url: str) -> None:
    assert is_url(url)
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        check_location(url)
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        Lake.at(url)
    with pytest.raises(ConfigError, match=r"^lake: .*s3://bucket/prefix.*\(got"):
        Settings(lake=url)


@pytest.mark.parametrize("url", ["s3://Bucket/lake", "s3://b", "s3://bucket//lake", "s3://bucket/../x", "s3:///x"])
def test_a_malformed_s3_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="not an S3 location"):
        check_location(url)


def test_an_s3_lake_takes_its_options_from_the_aws_variables() -> None:
    lake = Lake.at("s3://bucket/lake/", {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ACCESS_KEY_ID": "k",
                                         "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "eu-west-1",
                                         "TRACELAKE_X": "ignored"})
    assert lake.is_remote and lake.uri == "s3://bucket/lake" and lake.table_uri(EVENTS) == "s3://bucket/lake/events"
    assert lake.storage_options == {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ACCESS_KEY_ID": "k",
                                    "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "eu-west-1",
                                    "AWS_CONDITIONAL_PUT": "etag", "AWS_ALLOW_HTTP": "true"}
    with pytest.raises(ValueError, match="needs a local lake"):
        lake.table_dir(EVENTS)


def test_an_s3_lake_in_the_environment_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELAKE_LAKE", "s3://bucket/lake")
    assert Settings().lake == "s3://bucket/lake"
    monkeypatch.setenv("TRACELAKE_LAKE", "gs://bucket/lake")
    with pytest.raises(ConfigError, match=r"^TRACELAKE_LAKE: "):
        Settings()


@pytest.mark.parametrize("path", ["./lake", "/var/lib/tracelake", "lake:with-colon", "C:/data/lake"])
def test_local_paths_are_kept(path: str) -> None:
    assert not is_url(path)
    assert Lake.at(path).root == Path(path)


def test_the_lake_from_settings_and_its_paths(tmp_path: Path) -> None:
    lake = Lake.from_settings(Settings(lake=tmp_path / "lake"))
    assert lake.root == tmp_path / "lake" and as_lake(lake) is lake and as_lake(str(tmp_path)).root == tmp_path
    assert lake.table_dir(EVENTS) == tmp_path / "lake" / "events"
    assert lake.partition_dir(ALERTS, "2026-11-24") == tmp_path / "lake" / "alerts" / "event_date=2026-11-24"
    assert Path(lake) == lake.root  # a Lake goes where a path went (os.fspath)
    assert lake.partitions(EVENTS) == {} and lake.scan() == []


def test_the_writer_gets_the_lake(tmp_path: Path) -> None:
    lake = Lake(tmp_path, file_mode=0o600, dir_mode=0o700)
    writer = lake.writer("events")
    assert (writer.lake, writer.table) == (lake, EVENTS)


def test_a_bad_url_lake_on_a_real_command_exits_2_with_one_line_and_creates_nothing(tmp_path: Path) -> None:
    for args, env in ((["--lake", "gs://bucket/lake"], {}), ([], {"TRACELAKE_LAKE": "gs://bucket/lake"})):
        for command in (["sql", "SELECT 1"], ["ingest-file", "-"], ["compact"]):
            result = subprocess.run([sys.executable, "-m", "tracelake.cli.main", *command, *args],
                                    capture_output=True, text=True, cwd=tmp_path, input="",
                                    env={**_env(), **env}, timeout=120, check=False)
            lines = result.stderr.strip().splitlines()
            assert result.returncode == 2, (command, args, result.stderr)
            assert len(lines) == 1 and lines[0].startswith("tracelake: error: ")
            assert ("--lake" if args else "TRACELAKE_LAKE") in lines[0] and "s3://bucket/prefix" in lines[0]
            assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no folder named "gs:" (nor anything else)


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.upper().startswith("TRACELAKE_")}
