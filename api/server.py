"""Run the API under uvicorn: what ``tracelake api`` does.

Local mode (no keys file, api.md): the server binds to 127.0.0.1 whatever
host was asked for, serves every tenant without a key, and its first log
line says so. With a keys file the first log line names the file and the
number of keys. A keys file that cannot be read stops the start with
:class:`tracelake.api.keys.KeysFileError`; a bad setting was reported
before (:class:`tracelake.errors.ConfigError`).
"""

from __future__ import annotations

import logging

from tracelake.lifecycle import setup_logging, stop_on_signals
from tracelake.settings import Settings

log = logging.getLogger("tracelake.api")
LOCAL_HOST = "127.0.0.1"


def startup_line(settings: Settings, keys: int) -> tuple[str, str]:
    """(host to bind, the first log line)."""
    if settings.api_keys_file is None:
        note = f" (asked for {settings.api_host}; refused without keys)" if settings.api_host != LOCAL_HOST else ""
        return LOCAL_HOST, (
            f"LOCAL MODE: no keys file (--keys / TRACELAKE_API_KEYS_FILE), so every tenant is served without a key "
            f"and the API binds to {LOCAL_HOST} only{note}; listening on http://{LOCAL_HOST}:{settings.api_port}")
    return settings.api_host, (
        f"keys file {settings.api_keys_file} ({keys} key{'' if keys == 1 else 's'}): every /v1 request needs a key; "
        f"listening on http://{settings.api_host}:{settings.api_port}")


def serve(settings: Settings) -> None:
    import uvicorn

    from tracelake.api.app import create_app

    setup_logging()
    app = create_app(settings)
    host, line = startup_line(settings, len(app.state.ctx.keys))
    log.warning(line) if settings.api_keys_file is None else log.info(line)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal
    # into the handler it found; ours only sets an event, so that is a clean exit 0 (as `consume`).
    with stop_on_signals():
        uvicorn.run(app, host=host, port=settings.api_port, log_level="info", access_log=False,
                    log_config=None, server_header=False)


class BackgroundServer:
    """uvicorn serving ``app`` on 127.0.0.1 in a daemon thread: for ``tracelake demo`` and tests.

    ``start`` returns once ``/healthz`` answers (or raises ``TimeoutError``);
    ``stop`` asks uvicorn to shut down (the app's lifespan closes the producer)
    and joins the thread, bounded.
    """

    def __init__(self, app: object, port: int, host: str = LOCAL_HOST) -> None:
        import threading

        import uvicorn

        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="tracelake-api", daemon=True)

    def start(self, timeout: float = 20.0) -> BackgroundServer:
        import time
        import urllib.error
        import urllib.request

        self.thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if not self.thread.is_alive():
                break
            time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"the API at {self.url} did not answer /healthz within {timeout:g}s")

    def stop(self, timeout: float = 20.0) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout)
