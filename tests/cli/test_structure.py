"""How the command is built: `--help` imports nothing heavy; one stop-on-signal helper that restores handlers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tracelake.lifecycle import stop_on_signals

HEAVY = {"duckdb", "presidio_analyzer", "spacy", "fastapi", "polars", "pyarrow", "uvicorn", "kafka",
         "pydantic_settings"}


def test_importing_the_command_imports_nothing_heavy() -> None:
    code = ("import sys, tracelake.cli.main\n"
            f"print(sorted(set({sorted(HEAVY)!r}) & {{m.split('.')[0] for m in sys.modules}}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_help_imports_nothing_heavy() -> None:
    code = ("import sys\nfrom tracelake.cli.main import main\n"
            "code = main(['--help'])\n"
            f"heavy = set({sorted(HEAVY)!r}) & {{m.split('.')[0] for m in sys.modules}}\n"
            "print(sorted(heavy), code, file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stderr.strip() == "[] 0" and "Usage: tracelake" in result.stdout


def test_stop_on_signals_sets_the_event_and_restores_the_handlers() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with stop_on_signals() as stop:
        assert not stop.is_set()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
    with stop_on_signals() as stop:
        os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt inside the block
        assert stop.wait(5)
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_stop_on_signals_off_the_main_thread_installs_nothing() -> None:
    import threading

    before = signal.getsignal(signal.SIGTERM)
    seen: list[bool] = []

    def worker() -> None:
        with stop_on_signals() as stop:
            seen.append(stop.is_set())
            seen.append(signal.getsignal(signal.SIGTERM) is before)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(5)
    assert seen == [False, True]
