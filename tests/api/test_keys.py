"""Keys file: creation (0600, tlk_ prefix, ≥32 bytes), loading, malformed files."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from tracelake.api.keys import KeysFileError, create_key, hash_key, load_keys


def test_create_appends_hash_only_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "keys.toml"
    key, entry = create_key(path, "acme", "read")
    assert key.startswith("tlk_")
    assert len(base64.urlsafe_b64decode(key[4:] + "=")) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert key not in text and hash_key(key) in text
    second, entry2 = create_key(path, "acme", "read")
    assert (entry.id, entry2.id) == ("acme-read", "acme-read-2") and second != key
    loaded = load_keys(path)
    assert loaded[hash_key(key)].tenant == "acme" and loaded[hash_key(second)].id == "acme-read-2"


def test_contract_example_entry_loads(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text('[[keys]]\nid = "acme-read"\ntenant = "acme"\nrole = "read"\n'
                    'sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"\n')
    (key,) = load_keys(path).values()
    assert key.id == "acme-read" and key.sha256 == hash_key("test")


@pytest.mark.parametrize(("text", "words"), [
    ("[[keys]\n", "not valid TOML"),
    ('[[keys]]\nid = "a"\ntenant = "t"\nrole = "root"\nsha256 = "' + "0" * 64 + '"\n',
     r"keys\[1\] \(id 'a'\)\.role: Input should be 'ingest', 'read' or 'admin'"),
    ('[[keys]]\nid = "a"\ntenant = "t"\nrole = "read"\nsha256 = "xyz"\n', "64 hex digits"),
    ('[[keys]]\nid = "a"\nrole = "read"\nsha256 = "' + "0" * 64 + '"\n',
     r"keys\[1\] \(id 'a'\)\.tenant: Field required"),
    ('keys = 3\n', "array of tables"),
])
def test_malformed_files_name_the_problem(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(text)
    with pytest.raises(KeysFileError, match=words):
        load_keys(path)


def test_duplicate_id_and_bad_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    create_key(path, "*", "admin", "ops")
    with pytest.raises(KeysFileError, match="already exists"):
        create_key(path, "acme", "read", "ops")
    with pytest.raises(KeysFileError, match="tenant"):
        create_key(path, 'acme"\n[[keys]]', "read")
    with pytest.raises(KeysFileError, match="does not exist"):
        load_keys(tmp_path / "absent.toml")


GOOD = 'tenant = "t"\nrole = "read"\nsha256 = "' + "0" * 64 + '"\n'


def _entry(key_id: str, body: str = GOOD) -> str:
    return f'[[keys]]\nid = "{key_id}"\n{body}'


@pytest.mark.parametrize(("text", "expected"), [
    ("[[keys]]\nid = ", "not valid TOML: "),
    (_entry("a") + _entry("b") + _entry("ops", GOOD.replace('"read"', '"root"')),
     "keys[3] (id 'ops').role: Input should be 'ingest', 'read' or 'admin'"),
    ('[[keys]]\nid = 3\n' + GOOD, "keys[1].id: Input should be a valid string"),
    (_entry("a", GOOD + "note = 'x'\n"), "keys[1] (id 'a'): unknown key 'note' (known: id, tenant, role, sha256)"),
    (_entry("a") + "[other]\n", "unknown section 'other' (known: keys)"),
    (_entry("a") + _entry("b", GOOD.replace("0" * 64, "tlk_secret")),
     "keys[2] (id 'b').sha256: must be 64 hex digits"),
    (_entry("a") + _entry("b") + _entry("a", GOOD.replace("0" * 64, "1" * 64)),
     "keys[3] (id 'a').id: duplicate id 'a' (also keys[1])"),
])
def test_bad_keys_files_name_file_entry_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(text)
    with pytest.raises(KeysFileError) as error:
        load_keys(path)
    assert str(error.value).startswith(f"{path}: {expected}")
    assert "\n" not in str(error.value) and "tlk_secret" not in str(error.value)


def test_keys_file_errors_are_config_errors_and_value_errors(tmp_path: Path) -> None:
    from tracelake.errors import ConfigError

    with pytest.raises(ConfigError, match=r"absent\.toml: keys file does not exist \(create one with"):
        load_keys(tmp_path / "absent.toml")
    with pytest.raises(ValueError):
        load_keys(tmp_path / "absent.toml")


def test_upper_case_digest_is_stored_lower_case(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(_entry("a", GOOD.replace("0" * 64, hash_key("k").upper())))
    assert load_keys(path)[hash_key("k")].id == "a"
