"""``tracelake s3 install|start``: the local S3-compatible server (S3Proxy, :mod:`tracelake.locals3`).

Registered on the ``tracelake`` group by :mod:`tracelake.cli.main`; the
server module is imported inside each command. Without Java 17+ or ``mvn``
each command fails with one line and exit 2 (:class:`tracelake.locals3.LocalS3Error`).
"""

from __future__ import annotations

import click

from tracelake.cli.options import group
from tracelake.lifecycle import stop_on_signals


@group()
def s3() -> None:
    """The local S3-compatible server (S3Proxy from Maven Central + Java 17, no Docker)."""


@s3.command("install")
def s3_install() -> None:
    """Fetch S3Proxy into the cache (once); print where."""
    from tracelake.locals3 import check_java, install

    check_java()
    click.echo(str(install()))


@s3.command("start")
@click.option("--port", type=click.IntRange(1, 65535), default=9000, show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Keep the buckets here (default: a temporary directory, removed at exit).")
@click.option("--bucket", "buckets", multiple=True, default=("tracelake",), show_default=True, metavar="NAME",
              help="Create this bucket at start (repeatable).")
def s3_start(port: int, data_dir: str | None, buckets: tuple[str, ...]) -> None:
    """Run S3Proxy on 127.0.0.1 until Ctrl-C; print the environment that points a client at it."""
    from tracelake.locals3 import LocalS3

    server = LocalS3(data_dir=data_dir, port=port)
    click.echo(f"starting S3Proxy on 127.0.0.1:{port} …", err=True)
    server.start()
    try:
        for bucket in buckets:
            server.create_bucket(bucket)
        names = ", ".join(f"s3://{b}" for b in buckets) or "none"
        click.echo(f"S3 is up in {server.started_in or 0:.1f}s (buckets: {names}); export (Ctrl-C stops it):",
                   err=True)
        for key, value in server.env().items():
            click.echo(f"export {key}={value}")
        with stop_on_signals() as stop:
            while not stop.wait(1.0) and server.running:
                pass
    finally:
        server.close()
