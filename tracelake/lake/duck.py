"""DuckDB's view of the lake: the delta and httpfs extensions from their PyPI packages, and the lake's S3 secret.

DuckDB is pinned (``duckdb==1.5.5``) together with ``duckdb-extension-delta``
and ``duckdb-extension-httpfs`` of the same version: each wheel carries the
signed ``<name>.duckdb_extension`` file for exactly that DuckDB under
``<package>/extensions/v<version>/``. :func:`load_lake_extensions` loads them
from there with ``LOAD '<path>'``; nothing is downloaded (a connection made
here turns DuckDB's autoinstall and autoload of known extensions off, and
:mod:`tracelake.queries.engine` freezes them before it locks the
configuration).

Loading costs time per DuckDB database (measured on the 2-core machine: delta
about 0.45 s, httpfs about 0.1 s, an empty connection 0.015 s), so a caller
loads what it reads: httpfs for a lake on object storage (``s3://`` files),
delta for ``delta_scan``. :func:`needed_extensions` says which a lake needs
for reading its files by their URLs.

On object storage the lake's options (the delta-rs / ``object_store`` keys
``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``, ``AWS_REGION``, ``AWS_VIRTUAL_HOSTED_STYLE_REQUEST``)
become one temporary DuckDB S3 secret scoped to the lake's URL: endpoint as
``host:port``, ``USE_SSL`` from the endpoint's scheme, path-style URLs unless
virtual-hosted style is asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from tracelake.errors import Unavailable

EXTENSIONS = ("delta", "httpfs")
"""The extensions the lake may need, in load order; each is the PyPI package ``duckdb-extension-<name>``."""

SECRET_NAME = "tracelake_lake"


class LakeLike(Protocol):
    """What this module reads of a :class:`tracelake.lake.lake.Lake`."""

    @property
    def uri(self) -> str: ...

    @property
    def is_remote(self) -> bool: ...

    @property
    def storage_options(self) -> dict[str, str]: ...


def duckdb_version() -> str:
    import duckdb

    return str(duckdb.__version__)


def extension_path(name: str) -> Path:
    """The ``.duckdb_extension`` file of ``name`` installed by its PyPI package for this DuckDB.

    Raises :class:`~tracelake.errors.Unavailable` (one line, naming the package to install) when the
    package or the file for this DuckDB version is missing.
    """
    version = duckdb_version()
    package = f"duckdb_extension_{name}"
    install = f"pip install 'duckdb-extension-{name}=={version}'"
    try:
        root = resources.files(package)
    except ModuleNotFoundError:
        raise Unavailable(f"DuckDB's {name} extension is not installed (package duckdb-extension-{name} "
                          f"missing); run {install}") from None
    path = Path(str(root / "extensions" / f"v{version}" / f"{name}.duckdb_extension"))
    if not path.is_file():
        raise Unavailable(f"DuckDB's {name} extension for DuckDB {version} is not in package "
                          f"duckdb-extension-{name} ({path} missing); run {install}")
    return path


def needed_extensions(lake: LakeLike) -> tuple[str, ...]:
    """The extensions a connection needs to read ``lake``'s files by URL: httpfs on object storage, else none."""
    return ("httpfs",) if lake.is_remote else ()


def load_lake_extensions(con: Any, lake: LakeLike, extensions: tuple[str, ...] = EXTENSIONS) -> None:
    """Load ``extensions`` (default: delta and httpfs) from the installed package files into ``con`` and,
    when ``lake`` is on object storage, create its S3 secret (:func:`s3_secret_sql`).

    Turns autoinstall and autoload of known extensions off first: nothing is fetched from the network.
    Raises :class:`~tracelake.errors.Unavailable` (one line) when an extension's package is missing.
    """
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    for name in EXTENSIONS:
        if name in extensions:
            con.execute(f"LOAD {_literal(str(extension_path(name)))}")
    if lake.is_remote and "httpfs" in extensions:
        con.execute(s3_secret_sql(lake))


def s3_secret_sql(lake: LakeLike) -> str:
    """``CREATE OR REPLACE TEMPORARY SECRET`` of type S3 for ``lake``'s options, scoped to its bucket/prefix."""
    options = lake.storage_options
    parts = ["TYPE s3"]
    for option, key in (("KEY_ID", "AWS_ACCESS_KEY_ID"), ("SECRET", "AWS_SECRET_ACCESS_KEY"),
                        ("SESSION_TOKEN", "AWS_SESSION_TOKEN"), ("REGION", "AWS_REGION")):
        if options.get(key):
            parts.append(f"{option} {_literal(options[key])}")
    endpoint = options.get("AWS_ENDPOINT_URL", "")
    if endpoint:
        split = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        parts.append(f"ENDPOINT {_literal(split.netloc + split.path.rstrip('/'))}")
        parts.append(f"USE_SSL {'false' if split.scheme == 'http' else 'true'}")
    virtual = options.get("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "").lower() == "true"
    # A custom endpoint (S3Proxy, MinIO-likes, most S3-compatible stores) serves path-style URLs.
    parts.append(f"URL_STYLE {_literal('vhost' if virtual or not endpoint else 'path')}")
    parts.append(f"SCOPE {_literal(lake.uri.rstrip('/') + '/')}")
    return f"CREATE OR REPLACE TEMPORARY SECRET {SECRET_NAME} ({', '.join(parts)})"


def _literal(value: str) -> str:
    if "\x00" in value:
        raise ValueError("a NUL character cannot appear in a SQL literal")
    return "'" + value.replace("'", "''") + "'"


@contextmanager
def private_connection(lake: LakeLike, threads: int = 2) -> Iterator[Any]:
    """A private in-memory DuckDB connection able to read ``lake``'s files (UTC, no progress bar, the lake's
    extensions and S3 secret), closed on exit: for the lake's own maintenance (rollups, tidy, retention), never
    for a user's question (those go through :func:`tracelake.queries.engine.open_lake`)."""
    import duckdb

    con = duckdb.connect(":memory:", config={"threads": threads})
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        load_lake_extensions(con, lake, needed_extensions(lake))
        yield con
    finally:
        con.close()
