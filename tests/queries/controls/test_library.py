"""The manifest and the configuration are validated; a bad one is one line naming the file, entry and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracelake.errors import ConfigError
from tracelake.queries.controls.library import active_library, configure, load_library, use_library
from tracelake.queries.controls.model import ControlsError

GOOD = '''
[[controls]]
id = "a_control"
version = 1
description = "d"
risk = "r"
practice = "p"
severity = "warning"
owner = "o"
sql = "idempotency_key_present.sql"
'''


def _manifest(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "manifest.toml"
    path.write_text(text)
    return path


def test_the_package_library_loads() -> None:
    library = load_library()
    assert library.ids == ("separation_of_duties", "red_tier_human", "idempotency_key_present",
                           "idempotency_single_success", "retry_chain_single_success", "fail_closed",
                           "budget_halt", "approval_wait_slo")
    assert all(c.spec.risk and c.spec.practice and c.spec.owner for c in library.controls)
    assert len(library.fingerprint) == 16 and library.fingerprint == load_library().fingerprint


@pytest.mark.parametrize(("text", "message"), [
    (GOOD.replace('id = "a_control"', 'id = "A-Control"'), "controls[1] (id 'A-Control').id: a control id is"),
    (GOOD.replace('severity = "warning"', 'severity = "loud"'), "controls[1] (id 'a_control').severity: Input"),
    (GOOD + 'colour = "red"\n', "controls[1] (id 'a_control'): unknown key 'colour'"),
    (GOOD.replace("version = 1", "version = 0"), ".version: Input should be greater than or equal to 1"),
    (GOOD + GOOD, "controls: control id 'a_control' appears twice"),
    (GOOD.replace('sql = "idempotency_key_present.sql"', 'sql = "../x.sql"'), ".sql: sql names a file"),
    (GOOD.replace('sql = "idempotency_key_present.sql"', 'sql = "missing.sql"'), "no SQL file 'missing.sql'"),
    (GOOD.replace('sql = "idempotency_key_present.sql"', 'sql = "common.sql"'), "holds the shared relations"),
    (GOOD + 'applies_to = { region = ["eu"] }\n', "applies_to: unknown key 'region'"),
    ("controls = [", "not valid TOML"),
])
def test_a_bad_manifest_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ControlsError) as caught:
        load_library(manifest_file=_manifest(tmp_path, text))
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert isinstance(caught.value, ConfigError)


@pytest.mark.parametrize(("text", "message"), [
    ("[approval_slo_ms]\nyellow = 0\n", "approval_slo_ms.yellow: Input should be greater than 0"),
    ("[fail_closed]\nwindow = 3\n", "fail_closed: unknown key 'window'"),
    ("[budgets.run_cost_usd]\nrefund = -1\n", "budgets.run_cost_usd.refund: Input should be greater than or"),
    ("[surprise]\n", "unknown section 'surprise'"),
])
def test_a_bad_configuration_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "controls.toml"
    path.write_text(text)
    with pytest.raises(ControlsError) as caught:
        load_library(path)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_missing_configuration_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ControlsError, match="controls configuration file does not exist"):
        load_library(tmp_path / "nope.toml")


def test_the_configuration_changes_the_fingerprint(tmp_path: Path) -> None:
    path = tmp_path / "controls.toml"
    path.write_text("[approval_slo_ms]\nyellow = 1000\n")
    assert load_library(path).fingerprint != load_library().fingerprint
    try:
        assert configure(path).config.approval_slo_ms.yellow == 1000
        assert active_library().config.approval_slo_ms.yellow == 1000
    finally:
        use_library(None)
    assert active_library().config.approval_slo_ms.yellow == 300_000
