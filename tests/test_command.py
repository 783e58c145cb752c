"""The console script in an SDK-only install: one line naming the extra, exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest

from tracelake import command


def test_the_pipeline_extra_is_declared_and_installed_here() -> None:
    # Not vacuous: the installed metadata lists the extra's requirements, and this venv has them all.
    guarded = [r for r in metadata.requires("tracelake") or [] if 'extra == "pipeline"' in r]
    assert any(r.startswith("pydantic-settings") for r in guarded)
    assert command.missing_for_extra() == []


def test_without_the_extra_the_command_names_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    real_version = metadata.version
    absent = {"click", "pydantic-settings", "duckdb", "fastapi"}

    def version(name: str) -> str:
        if name in absent:
            raise metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(metadata, "version", version)
    assert command.main(["--help"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "pip install 'tracelake[pipeline]'" in err
    assert "click, pydantic-settings" in err and "1 more" in err


def test_a_platform_guarded_requirement_is_not_demanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metadata, "requires", lambda _: [
        'uvloop>=0.19; sys_platform != "win32" and extra == "pipeline"', 'nosuchdist-xyz; extra == "other"'])
    assert command.missing_for_extra() == []


def test_with_the_extra_the_command_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "tracelake.command", "--version"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "tracelake" in result.stdout
