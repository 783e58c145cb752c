"""Loading the control library: the manifest, each control's SQL, the configuration; and the process's library.

:func:`load_library` reads the manifest shipped with the package (``queries/controls/controls.toml``, or
another manifest file for tests), the SQL file each control names (``queries/controls/sql/``) and the
configuration file (setting ``controls_config_file``; None: the documented defaults). The result,
:class:`ControlLibrary`, carries a :attr:`~ControlLibrary.fingerprint` of everything that decides a verdict
(the controls' ids, versions, SQL, filters and the configuration): the maintained ``control_results`` table
records it, so rows computed under another library are never read as current.

The process's library (:func:`active_library`) is the one every connection's ``control_results`` view uses.
Entry points that hold the settings set it (:func:`configure`); without that it is the package's library
with the default configuration.

Failure mode: :class:`~tracelake.queries.controls.model.ControlsError` (one line naming the file, the
entry and the field) for a bad manifest, a missing SQL file or a bad configuration file.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from tracelake.configfile import load_toml_model, read_toml, validate_model
from tracelake.queries.controls.model import ControlsConfig, ControlsError, ControlSpec, Manifest

COMMON_SQL = "common.sql"
"""The shared relations (``ev``, ``run_keys``, ``initiators``, ``mutations``); not a control."""


@dataclass(frozen=True)
class Control:
    """One control: its manifest entry and its SQL (one row per checked item: tenant, run_id, passed,
    evidence)."""

    spec: ControlSpec
    sql: str

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def version(self) -> int:
        return self.spec.version


@dataclass(frozen=True)
class ControlLibrary:
    """The controls in manifest order, the shared SQL and the configuration."""

    controls: tuple[Control, ...]
    common_sql: str
    config: ControlsConfig

    def get(self, control_id: str) -> Control:
        """The control ``control_id``; ``KeyError`` naming the known ids when there is none."""
        for control in self.controls:
            if control.id == control_id:
                return control
        raise KeyError(f"no control {control_id!r}; known: {', '.join(self.ids)}")

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.controls)

    @property
    def fingerprint(self) -> str:
        """16 hex digits of BLAKE2b over every input of a verdict (ids, versions, filters, SQL, config)."""
        digest = hashlib.blake2b(digest_size=8)
        digest.update(self.common_sql.encode())
        for control in self.controls:
            digest.update(control.spec.model_dump_json().encode())
            digest.update(control.sql.encode())
        digest.update(self.config.model_dump_json().encode())
        return digest.hexdigest()


def _package_sql(name: str) -> str:
    return (resources.files("tracelake.queries") / "controls" / "sql" / name).read_text(encoding="utf-8")


@cache
def _package_manifest() -> Manifest:
    text = (resources.files("tracelake.queries") / "controls" / "controls.toml").read_text(encoding="utf-8")
    import tomllib

    return validate_model("controls.toml", tomllib.loads(text), Manifest, ControlsError)


def load_config(path: str | os.PathLike[str] | None) -> ControlsConfig:
    """The controls configuration at ``path``; the defaults when None. Raises :class:`ControlsError`."""
    if path is None:
        return ControlsConfig()
    return load_toml_model(path, ControlsConfig, kind="controls configuration file", error=ControlsError)


def load_library(config_file: str | os.PathLike[str] | None = None, *,
                 manifest_file: str | os.PathLike[str] | None = None,
                 sql_dir: str | os.PathLike[str] | None = None) -> ControlLibrary:
    """The control library: the package's manifest and SQL (or ``manifest_file`` / ``sql_dir``) with the
    configuration at ``config_file`` (None: defaults). Raises :class:`ControlsError` naming the problem."""
    if manifest_file is None:
        manifest = _package_manifest()
    else:
        manifest = validate_model(os.fspath(manifest_file), read_toml(manifest_file, kind="controls manifest",
                                                                      error=ControlsError),
                                  Manifest, ControlsError)
    controls = []
    for index, spec in enumerate(manifest.controls):
        if spec.sql == COMMON_SQL:
            raise ControlsError(f"controls[{index + 1}] (id {spec.id!r}).sql: {COMMON_SQL} holds the shared "
                                "relations, not a control")
        controls.append(Control(spec, _read(spec.sql, sql_dir, f"controls[{index + 1}] (id {spec.id!r}).sql")))
    return ControlLibrary(tuple(controls), _read(COMMON_SQL, sql_dir, "common SQL"), load_config(config_file))


def _read(name: str, sql_dir: str | os.PathLike[str] | None, where: str) -> str:
    try:
        return _package_sql(name) if sql_dir is None else (Path(sql_dir) / name).read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError):
        raise ControlsError(f"{where}: no SQL file {name!r} in queries/controls/sql/") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ControlsError(f"{where}: cannot read SQL file {name!r}: {exc}") from None


_active: ControlLibrary | None = None
_active_lock = threading.Lock()


def active_library() -> ControlLibrary:
    """The process's library (see the module docstring)."""
    global _active
    with _active_lock:
        if _active is None:
            _active = load_library()
        return _active


def configure(config_file: str | os.PathLike[str] | None) -> ControlLibrary:
    """Make the package's library with the configuration at ``config_file`` the process's; returns it.
    Raises :class:`ControlsError` (the process's library is then unchanged)."""
    library = load_library(config_file)
    use_library(library)
    return library


def use_library(library: ControlLibrary | None) -> None:
    """Set the process's library (None: back to the package's defaults, loaded on next use)."""
    global _active
    with _active_lock:
        _active = library
