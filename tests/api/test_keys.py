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
