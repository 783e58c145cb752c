"""``tracelake demo``: the whole pipeline on this machine, on real components.

1. Kafka: the local Apache Kafka (cached jars, Java 17) unless ``--bootstrap``.
2. The consumer (``tracelake consume``) and the API (``tracelake api``, local
   mode, 127.0.0.1) as child processes: the consumer's redaction is CPU-bound
   and gets its own core; both die with the demo even after a ``kill -9``.
3. The fleet simulator drives the real SDK for ``duration`` seconds at
   ``rate`` runs/s: eight days of traffic in simulated time, with a bad canary
   (``refund_request`` v4) in the last 24 hours.
4. Waits (bounded) until every emitted event is in the lake, evaluates the
   drift rules and the canary, prints the report.
5. Serves the API and dashboard until Ctrl-C, or with ``--no-serve`` stops
   everything it started.

The demo lake is wiped at the start when it holds a previous demo (marker
file), never otherwise: pointing ``--lake`` at real data is refused.

Settings as every command: ``--lake`` / ``--bootstrap``, then ``TRACELAKE_*``
(:func:`demo_settings`; the lake's default is ``./tracelake-demo``, not the
pipeline's), then one :class:`~tracelake.lake.lake.Lake` built from them for
the in-process analysis; the child processes inherit the environment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tracelake.errors import Unavailable, UserError
from tracelake.lifecycle import stop_on_signals
from tracelake.localkafka import LocalKafka
from tracelake.localkafka.broker import _die_with_parent, free_port

if TYPE_CHECKING:
    from tracelake.lake.lake import Lake
    from tracelake.settings import Settings

MARKER = ".tracelake-demo"
DEFAULT_LAKE = "./tracelake-demo"
CANARY = {"workflow": "refund_request", "baseline": "v3", "candidate": "v4"}


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self, timeout: float = 60) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace").strip().splitlines()[-5:]
            raise Unavailable(f"the {self.name} exited (code {self.proc.returncode}); last lines of {self.log}:\n"
                           + "\n".join(tail))


def _spawn(name: str, args: list[str], env: dict[str, str], log: Path) -> Child:
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tracelake.cli.main", *args], env={**os.environ, **env},
                                stdout=out, stderr=out, preexec_fn=_die_with_parent)
    return Child(name, proc, log)


def prepare_lake(lake: Path) -> Path:
    """An empty demo lake at ``lake``; a previous demo's lake is replaced, anything else refused."""
    if lake.exists() and any(lake.iterdir()):
        if not (lake / MARKER).exists():
            raise UserError(f"{lake} is not empty and was not made by tracelake demo; pass --lake to a new directory")
        shutil.rmtree(lake)
    lake.mkdir(parents=True, exist_ok=True)
    (lake / MARKER).write_text("made by tracelake demo; replaced by the next demo run\n")
    return lake


def demo_settings(**options: Any) -> Settings:
    """The demo's settings: ``options`` given (not None), then ``TRACELAKE_*``, then the defaults, except that
    the lake defaults to ``./tracelake-demo``. Raises ``ConfigError`` (one line) for a bad value, a URL lake too."""
    from tracelake.settings import Settings

    config = Settings.from_options(**options)
    if "lake" not in config.model_fields_set:  # neither --lake nor TRACELAKE_LAKE: the demo's own folder
        config = Settings.from_options(**{**options, "lake": DEFAULT_LAKE})
    return config


def stored_count(lake: Lake | Path, topic: str) -> int:
    from tracelake.queries.views import connect

    try:
        con = connect(lake)
        try:
            row = con.execute("SELECT count(*) FROM events WHERE kafka_topic = ?", [topic]).fetchone()
            return int(row[0]) if row else 0
        finally:
            con.close()
    except Exception:  # noqa: BLE001 - empty or mid-write lake: asked again on the next poll
        return 0


def wait_for_api(url: str, child: Child, timeout: float) -> bool:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        child.check_alive()
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            if response.status == 200:
                return True
        time.sleep(0.2)
    return False


def analyse(lake: Lake | Path, now: datetime, config: Settings | None = None) -> dict[str, Any]:
    """Metrics tables, drift alerts (stored in the lake) and the canary verdict, under ``config``'s query
    limits (the defaults when None)."""
    from tracelake.queries.alerts.canary import compare
    from tracelake.queries.alerts.rules import load_rules
    from tracelake.queries.alerts.runner import run_once
    from tracelake.queries.engine import Limits
    from tracelake.queries.metrics import compute_metric
    from tracelake.queries.timewin import Window

    rules = load_rules(None)
    limits = Limits.from_settings(config) if config is not None else None
    horizon = timedelta(hours=config.run_max_duration_h if config is not None else 24)
    day = now - timedelta(days=1)

    def metric(name: str, **kw: Any) -> list[dict[str, Any]]:
        return compute_metric(lake, name, limits=limits, run_horizon=horizon, **kw)

    tables = {
        "success rate by version (last 24 h)": metric("success_rate", since=day, until=now),
        "cost per successful outcome (last 24 h)": metric("cost_per_success", since=day, until=now),
        "tool-call validity (last 24 h)": metric("tool_call_validity", since=day, until=now),
        "time to safe fallback (8 days)": metric("time_to_safe_fallback", group_by=["workflow"]),
        "latency split (8 days)": metric("latency_split", group_by=["workflow"]),
    }
    report = run_once(lake, rules, now, limits=limits, run_horizon=horizon)
    canary = compare(lake, rules, window=Window(day, now), workflow=CANARY["workflow"], baseline=CANARY["baseline"],
                     candidate=CANARY["candidate"], limits=limits, run_horizon=horizon)
    return {"tables": tables, "alerts": report.alerts, "alerts_raised": report.raised, "canary": canary}


KEEP = {
    "success rate by version (last 24 h)": ["workflow", "workflow_version", "runs", "success_rate"],
    "cost per successful outcome (last 24 h)": ["workflow", "workflow_version", "total_cost_usd",
                                                "cost_per_success"],
    "tool-call validity (last 24 h)": ["workflow", "workflow_version", "tool_calls", "tool_call_validity"],
    "time to safe fallback (8 days)": ["workflow", "runs", "p50_ms", "p95_ms", "max_ms"],
    "latency split (8 days)": ["workflow", "runs", "model_ms_p50", "tool_ms_p50", "run_ms_p50", "run_ms_p95"],
}


def print_report(result: dict[str, Any], emitted: int, stored: int, api_url: str | None) -> None:
    from tracelake.cli.output import render_table

    echo = click.echo
    echo(f"\nevents emitted {emitted}, stored in the lake {stored} (redacted, de-duplicated)\n")
    for title, rows in result["tables"].items():
        echo(click.style(title, bold=True))
        echo(render_table([{k: row.get(k) for k in KEEP[title]} for row in rows]) + "\n")
    echo(click.style(f"alerts fired: {len(result['alerts'])}", bold=True))
    if result["alerts"]:
        echo(render_table([{k: a.get(k) for k in ("rule", "group", "baseline_value", "current_value", "p_value",
                                                   "severity")} for a in result["alerts"]]) + "\n")
    canary = result["canary"]
    echo(click.style(f"canary {canary['workflow']} {canary['baseline']} → {canary['candidate']}: "
                     f"{canary['verdict'].upper()}", bold=True))
    fired = [t for t in canary.get("tests", []) if t.get("status") == "fired"]
    if fired:
        echo(render_table([{k: t.get(k) for k in ("rule", "baseline_value", "current_value", "p_value")}
                           for t in fired]))
    if api_url:
        echo(f"\nAPI        {api_url}/docs\ndashboard  {api_url}/dashboard\nmetrics    {api_url}/metrics")


def run_demo(*, duration: float, rate: float, bootstrap: str | None, lake: str | None, serve: bool,
             quiet: bool = False, config: Settings | None = None) -> dict[str, Any]:
    """The demo (module docstring). ``config``: the settings (default :func:`demo_settings` of ``lake`` and
    ``bootstrap``); the one :class:`~tracelake.lake.lake.Lake` is built from them here."""
    from dataclasses import replace

    from tracelake.fleet import Fleet, FleetConfig
    from tracelake.lake.lake import Lake
    from tracelake.sdk import Client

    config = config or demo_settings(lake=lake, kafka_bootstrap=bootstrap)
    bootstrap = config.kafka_bootstrap
    the_lake = Lake.from_settings(config)
    the_lake = replace(the_lake, root=prepare_lake(the_lake.resolved))
    lake_root = the_lake.local_root
    topic = f"tracelake.demo.{uuid.uuid4().hex[:8]}"
    logs = lake_root / "logs"
    logs.mkdir()
    say = (lambda _msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    with contextlib.ExitStack() as stack:
        if bootstrap is None:
            say("starting the local Apache Kafka …")
            bootstrap = stack.enter_context(LocalKafka()).bootstrap
        env = {"TRACELAKE_TOPIC": topic, "TRACELAKE_DLQ_TOPIC": f"{topic}.dlq", "TRACELAKE_BATCH_MAX_AGE_S": "1"}
        say(f"starting the consumer and the API (lake {lake_root}, logs in {logs}) …")
        consumer = _spawn("consumer", ["consume", "--bootstrap", bootstrap, "--lake", str(lake_root), "--group",
                                       f"demo-{topic}"], env, logs / "consumer.log")
        stack.callback(consumer.stop)
        port = free_port()
        api = _spawn("API", ["api", "--lake", str(lake_root), "--host", "127.0.0.1", "--port", str(port)],
                     {**env, "TRACELAKE_KAFKA_BOOTSTRAP": bootstrap}, logs / "api.log")
        stack.callback(api.stop)
        api_url = f"http://127.0.0.1:{port}"

        fleet = Fleet(FleetConfig())
        spool = stack.enter_context(tempfile.TemporaryDirectory(prefix="tracelake-spool-"))
        client = stack.enter_context(Client(bootstrap=bootstrap, topic=topic, spool_dir=spool, clock=fleet.clock))
        total = int(duration)
        with click.progressbar(length=total, label="agents running", file=sys.stderr, show_eta=False) as bar:
            started, shown = time.monotonic(), 0

            def progress(_runs: int) -> None:
                nonlocal shown
                elapsed = min(total, int(time.monotonic() - started))
                if elapsed > shown:
                    bar.update(elapsed - shown)
                    shown = elapsed

            fleet.run(client, duration_s=duration, rate=rate, progress=progress)
            bar.update(total - shown)
        if not client.flush(60):
            say("warning: some events are still in the SDK spool")
        emitted = client.stats().enqueued
        say(f"{fleet.stats.runs} runs, {emitted} events emitted; waiting for the consumer to store them …")
        deadline = time.monotonic() + max(120.0, emitted / 200)
        while (stored := stored_count(the_lake, topic)) < emitted and time.monotonic() < deadline:
            consumer.check_alive()
            time.sleep(0.5)
        result = analyse(the_lake, datetime.now(UTC), config)
        api_up = wait_for_api(api_url, api, 60)
        report = {
            "events_emitted": emitted,
            "events_stored": stored,
            "runs": fleet.stats.runs,
            "outcomes": dict(fleet.stats.outcomes),
            "lake": str(lake_root),
            "topic": topic,
            "alerts": result["alerts"],
            "canary": {k: result["canary"][k] for k in ("workflow", "baseline", "candidate", "verdict")},
            "canary_tests": result["canary"].get("tests", []),
            "metrics": result["tables"],
            "api": api_url if api_up else None,
            "dashboard": f"{api_url}/dashboard" if api_up else None,
        }
        if not quiet:
            print_report(result, emitted, stored, api_url if api_up else None)
        if serve and api_up:
            click.echo("\nserving; Ctrl-C stops the API, the consumer and Kafka", err=True)
            _wait_for_interrupt()
    return report


def _wait_for_interrupt() -> None:
    with stop_on_signals() as stop:
        while not stop.wait(1.0):
            pass
