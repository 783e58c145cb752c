"""The shared loader of configuration files: every failure is one line naming file, entry and field."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from tracelake.configfile import describe, load_toml_model
from tracelake.errors import ConfigError, UserError


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    colour: Literal["red", "blue"]
    size: int = Field(1, gt=0)


class Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[Entry] = []
    named: dict[str, Entry] = {}


class DocError(ConfigError):
    pass


def load(tmp_path: Path, text: str | bytes) -> str:
    path = tmp_path / "conf.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(DocError) as error:
        load_toml_model(path, Doc, kind="test file", error=DocError)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ")


def test_a_valid_file_is_the_model(tmp_path: Path) -> None:
    path = tmp_path / "conf.toml"
    path.write_text('[[items]]\nid = "a"\ncolour = "red"\n[named.b]\nid = "b"\ncolour = "blue"\nsize = 3\n')
    doc = load_toml_model(path, Doc)
    assert doc.items[0].colour == "red" and doc.named["b"].size == 3


@pytest.mark.parametrize(("text", "expected"), [
    ("[[items]\n", "not valid TOML: "),
    (b"x = '\xff'\n", "not valid TOML: the file is not UTF-8 text"),
    ('[[items]]\nid = "a"\ncolour = "red"\n[[items]]\nid = "b"\ncolour = "red"\n'
     '[[items]]\nid = "c"\ncolour = "green"\n',
     "items[3] (id 'c').colour: Input should be 'red' or 'blue'"),
    ('[[items]]\nid = "a"\ncolour = "red"\nsize = 0\n', "items[1] (id 'a').size: Input should be greater than 0"),
    ('[[items]]\ncolour = "red"\n', "items[1].id: Field required"),
    ('[[items]]\nid = "a"\ncolour = "red"\nsize = "big"\n', "items[1] (id 'a').size: Input should be a valid integer"),
    ('[[items]]\nid = "a"\ncolour = "red"\nshape = 1\n',
     "items[1] (id 'a'): unknown key 'shape' (known: id, colour, size)"),
    ('[named."x.y"]\nid = "a"\ncolour = "pink"\n', "named.\"x.y\".colour: Input should be 'red' or 'blue'"),
    ("[other]\n", "unknown section 'other' (known: items, named)"),
    ("other = 1\n", "unknown key 'other' (known: items, named)"),
    ("items = 3\n", "items: Input should be an array of tables ([[items]])"),
    ("items = [3]\n", "items[1]: Input should be a table"),
    ("named = 3\n", "named: Input should be a table"),
    # A misspelt key is reported before the "Field required" it causes; the rest are counted.
    ('[[items]]\nid = "a"\ncolor = "red"\n', "items[1] (id 'a'): unknown key 'color' (known: id, colour, size) "
                                             "(and 1 more problem)"),
])
def test_bad_files_say_file_entry_and_field(tmp_path: Path, text: str | bytes, expected: str) -> None:
    assert load(tmp_path, text).startswith(expected)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DocError, match=r"nope\.toml: test file does not exist \(make one\)$"):
        load_toml_model(tmp_path / "nope.toml", Doc, kind="test file", error=DocError, missing_hint=" (make one)")
    with pytest.raises(DocError, match="cannot read the test file: Is a directory"):
        load_toml_model(tmp_path, Doc, kind="test file", error=DocError)


def test_values_are_never_echoed(tmp_path: Path) -> None:
    # A secret pasted into the wrong key must not reach the logs through the message.
    message = load(tmp_path, '[[items]]\nid = "a"\ncolour = "tlk_secret"\n')
    assert "tlk_secret" not in message


def test_errors_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError):
        load_toml_model(tmp_path / "nope.toml", Doc)


def test_describe_names_entries_from_one_and_by_id() -> None:
    data = {"items": [{"id": "a"}, {"name": "b"}]}
    assert describe("f.toml", ("items", 1, "size"), "too big", data) == "f.toml: items[2] (name 'b').size: too big"
    assert describe("f.toml", (), "empty") == "f.toml: empty"
