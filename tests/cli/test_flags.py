"""``tracelake flags set|get|list|history``: operators set flags in the lake, audited; bad input is one line."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tracelake.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_set_get_list_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lake = ["--lake", str(tmp_path / "lake"), "--tenant", "acme", "--format", "json"]
    code, out, _ = run(capsys, "flags", "get", "refund", *lake)
    assert code == 0 and orjson.loads(out)["action"] == "allow"
    code, out, _ = run(capsys, "flags", "set", "refund", "throttle", "--rate", "0.2", "--reason", "slow",
                       "--who", "ops:dana", *lake)
    assert code == 0 and orjson.loads(out)["previous"]["action"] == "allow"
    code, _, _ = run(capsys, "flags", "set", "refund", "pin_version", "--version", "v3", "--reason", "rollback", *lake)
    assert code == 0
    assert run(capsys, "flags", "set", "access", "pause", "--reason", "incident", *lake)[0] == 0
    code, out, _ = run(capsys, "flags", "list", *lake)
    assert [(f["workflow"], f["action"], f["version"]) for f in orjson.loads(out)] == [
        ("access", "pause", None), ("refund", "pin_version", "v3")]
    code, out, _ = run(capsys, "flags", "history", "refund", *lake)
    rows = orjson.loads(out)
    assert [(r["from"], r["to"], r["reason"]) for r in rows] == [
        ("allow", "throttle 0.2", "slow"), ("throttle 0.2", "pin_version v3", "rollback")]
    assert rows[0]["who"] == "ops:dana" and rows[1]["who"].startswith("cli:")
    code, out, _ = run(capsys, "flags", "list", "--lake", str(tmp_path / "lake"), "--tenant", "globex",
                       "--format", "json")
    assert orjson.loads(out) == []


@pytest.mark.parametrize(("args", "words"), [
    (["throttle", "--reason", "x"], "rate"),
    (["throttle", "--rate", "0", "--reason", "x"], "rate"),
    (["pin_version", "--reason", "x"], "version"),
    (["pause", "--rate", "0.5", "--reason", "x"], "rate goes with throttle"),
    (["pause", "--reason", " "], "reason"),
])
def test_a_bad_flag_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                words: str) -> None:
    code, out, err = run(capsys, "flags", "set", "refund", *args, "--lake", str(tmp_path / "lake"))
    assert code == 2 and out == "" and err.count("\n") == 1 and words in err
    assert not (tmp_path / "lake" / "flags").exists() or run(capsys, "flags", "list", "--lake",
                                                              str(tmp_path / "lake"), "--format", "json")[1] == "[]\n"
