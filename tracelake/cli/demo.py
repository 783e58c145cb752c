"""``tracelake demo``: the whole pipeline on this machine, on real components.

1. Kafka: the local Apache Kafka (cached jars, Java 17) unless ``--bootstrap``;
   with ``--s3`` also the loopback S3 server (S3Proxy, :mod:`tracelake.locals3`)
   and a bucket on it: the lake is then ``s3://tracelake/demo`` (see below).
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

With ``--s3`` the local demo folder (``--lake``, same rules) keeps the S3
server's data (``s3/``, which outlives the demo: ``tracelake s3 start
--data-dir <folder>/s3`` serves it again), the logs and the processes' state
(``XDG_STATE_HOME``); the lake is ``s3://tracelake/demo`` on the server, and
the consumer, the API and the in-process analysis get the server's
``AWS_*`` variables (any ``AWS_*`` of the caller's environment is left out,
so the demo never touches a real bucket).
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
# With --s3: the bucket the demo creates on its own loopback server, and the lake in it.
S3_BUCKET = "tracelake"
S3_LAKE = f"s3://{S3_BUCKET}/demo"
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


def _spawn(name: str, args: list[str], env: dict[str, str], log: Path, unset: tuple[str, ...] = ()) -> Child:
    """``tracelake <args>`` as a child process: the demo's environment plus ``env``, minus ``unset``."""
    child_env = {k: v for k, v in os.environ.items() if k not in unset}
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tracelake.cli.main", *args], env={**child_env, **env},
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
    limits (the defaults when None), on one connection over the whole (small) demo lake."""
    from tracelake.queries.alerts.canary import compare
    from tracelake.queries.alerts.rules import load_rules
    from tracelake.queries.alerts.runner import run_once
    from tracelake.queries.engine import Limits, open_lake
    from tracelake.queries.metrics import run_metric
    from tracelake.queries.timewin import Window

    rules = load_rules(None)
    limits = Limits.from_settings(config) if config is not None else None
    horizon = timedelta(hours=config.run_max_duration_h if config is not None else 24)
    day = now - timedelta(days=1)
    # No window: the 8-day tables ask for all time, and every partition holds whatever the others need.
    with open_lake(lake, limits=limits, run_horizon=horizon) as con:
        def metric(name: str, **kw: Any) -> list[dict[str, Any]]:
            return run_metric(con, name, **kw)

        tables = {
            "success rate by version (last 24 h)": metric("success_rate", since=day, until=now),
            "cost per successful outcome (last 24 h)": metric("cost_per_success", since=day, until=now),
            "tool-call validity (last 24 h)": metric("tool_call_validity", since=day, until=now),
            "time to safe fallback (8 days)": metric("time_to_safe_fallback", group_by=["workflow"]),
            "latency split (8 days)": metric("latency_split", group_by=["workflow"]),
            "controls (8 days)": metric("control_pass_rate", group_by=["control_id"]),
        }
        report = run_once(lake, rules, now, run_horizon=horizon, con=con)
        canary = compare(lake, rules, window=Window(day, now), workflow=CANARY["workflow"],
                         baseline=CANARY["baseline"], candidate=CANARY["candidate"], run_horizon=horizon, con=con)
    return {"tables": tables, "alerts": report.alerts, "alerts_raised": report.raised, "canary": canary}


KEEP = {
    "success rate by version (last 24 h)": ["workflow", "workflow_version", "runs", "success_rate"],
    "cost per successful outcome (last 24 h)": ["workflow", "workflow_version", "total_cost_usd",
                                                "cost_per_success"],
    "tool-call validity (last 24 h)": ["workflow", "workflow_version", "tool_calls", "tool_call_validity"],
    "time to safe fallback (8 days)": ["workflow", "runs", "p50_ms", "p95_ms", "max_ms"],
    "latency split (8 days)": ["workflow", "runs", "model_ms_p50", "tool_ms_p50", "run_ms_p50", "run_ms_p95"],
    "controls (8 days)": ["control_id", "applicable", "failed", "control_pass_rate"],
}


def print_report(result: dict[str, Any], emitted: int, stored: int, api_url: str | None,
                 loop: dict[str, Any] | None = None) -> None:
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
    if loop is not None:
        for flag in loop["flags_set"]:
            echo(f"flag {flag['tenant']}/{flag['workflow']}: {flag['previous']['action']} → {flag['action']} "
                 f"{flag['version'] or ''} (by {flag['who']})")
        after = loop["after"]
        echo(click.style(f"after the rollback: {after['runs']} more runs, {after['workflow']} by version "
                         f"{after['runs_by_version']}, {after['candidate_runs']} on the canary", bold=True))
    if api_url:
        echo(f"\nAPI        {api_url}/docs\ndashboard  {api_url}/dashboard\nmetrics    {api_url}/metrics")


def run_demo(*, duration: float, rate: float, bootstrap: str | None, lake: str | None, serve: bool,
             quiet: bool = False, config: Settings | None = None, s3: bool = False) -> dict[str, Any]:
    """The demo (module docstring). ``config``: the settings (default :func:`demo_settings` of ``lake`` and
    ``bootstrap``); the one :class:`~tracelake.lake.lake.Lake` is built from them here. ``s3``: run the lake
    on the loopback S3 server; the settings' lake is then the local folder for its data, logs and state."""
    from tracelake.fleet import Fleet, FleetConfig
    from tracelake.lake.lake import AWS_VARIABLES, Lake
    from tracelake.sdk import Client

    config = config or demo_settings(lake=lake, kafka_bootstrap=bootstrap)
    bootstrap = config.kafka_bootstrap
    if isinstance(config.lake, str):  # an s3:// URL from --lake or TRACELAKE_LAKE
        raise UserError(f"the demo replaces its lake, so it does not run on {config.lake}; give --lake a local "
                        f"directory{'' if s3 else ' (--s3 runs the lake on a loopback S3 server)'}")
    folder = prepare_lake(Path(config.lake).resolve())
    the_lake = Lake.at(folder)
    topic = f"tracelake.demo.{uuid.uuid4().hex[:8]}"
    logs = folder / "logs"
    logs.mkdir()
    say = (lambda _msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    with contextlib.ExitStack() as stack:
        env = {"TRACELAKE_TOPIC": topic, "TRACELAKE_DLQ_TOPIC": f"{topic}.dlq", "TRACELAKE_BATCH_MAX_AGE_S": "1"}
        unset: tuple[str, ...] = ()
        s3_server = None
        if s3:
            from tracelake.locals3 import LocalS3

            say("starting the local S3 server (S3Proxy) …")
            # Its data in the demo folder, kept after the demo (`tracelake s3 start --data-dir` serves it again).
            s3_server = stack.enter_context(LocalS3(data_dir=folder / "s3"))
            s3_server.create_bucket(S3_BUCKET)
            the_lake = Lake.at(S3_LAKE, s3_server.env())
            # The children reach the lake only through the server's variables, never the caller's own AWS_*;
            # their state (consumer health, API spool) stays in the demo folder, not ~/.local/state.
            unset = AWS_VARIABLES
            env |= {**s3_server.env(), "XDG_STATE_HOME": str(folder / "state")}
        if bootstrap is None:
            say("starting the local Apache Kafka …")
            bootstrap = stack.enter_context(LocalKafka()).bootstrap
        lake_arg = str(the_lake.uri)
        say(f"starting the consumer and the API (lake {lake_arg}, logs in {logs}) …")
        consumer = _spawn("consumer", ["consume", "--bootstrap", bootstrap, "--lake", lake_arg, "--group",
                                       f"demo-{topic}"], env, logs / "consumer.log", unset)
        stack.callback(consumer.stop)
        port = free_port()
        api = _spawn("API", ["api", "--lake", lake_arg, "--host", "127.0.0.1", "--port", str(port)],
                     {**env, "TRACELAKE_KAFKA_BOOTSTRAP": bootstrap}, logs / "api.log", unset)
        stack.callback(api.stop)
        api_url = f"http://127.0.0.1:{port}"

        from tracelake.fleet.payments import Payments

        fleet = Fleet(FleetConfig(payments=Payments()))  # the payment processor confirms refunds, late
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
        loop = None
        if api_up:  # the verdict rolls the canary back; a second wave of agents reads its flags and obeys
            from tracelake.cli.demo_loop import close_the_loop

            loop = close_the_loop(the_lake, api_url, client, result["canary"], now=datetime.now(UTC),
                                  tenants=[t for t, _ in fleet.config.tenants], runs=max(50, fleet.stats.runs // 10))
        report = {
            "events_emitted": emitted,
            "events_stored": stored,
            "runs": fleet.stats.runs,
            "outcomes": dict(fleet.stats.outcomes),
            "lake": lake_arg,
            "topic": topic,
            "alerts": result["alerts"],
            "canary": {k: result["canary"][k] for k in ("workflow", "baseline", "candidate", "verdict")},
            "canary_tests": result["canary"].get("tests", []),
            "loop": loop,
            "metrics": result["tables"],
            "api": api_url if api_up else None,
            "dashboard": f"{api_url}/dashboard" if api_up else None,
        }
        if s3_server is not None:
            report["s3"] = {"endpoint": s3_server.endpoint, "bucket": S3_BUCKET, "data_dir": str(s3_server.data_dir)}
        if not quiet:
            print_report(result, emitted, stored, api_url if api_up else None, loop)
            if s3_server is not None:
                click.echo(f"lake       {lake_arg} on {s3_server.endpoint} (data in {s3_server.data_dir})")
        if serve and api_up:
            click.echo("\nserving; Ctrl-C stops the API, the consumer, Kafka"
                       + (" and the S3 server" if s3_server is not None else ""), err=True)
            _wait_for_interrupt()
    return report


def _wait_for_interrupt() -> None:
    with stop_on_signals() as stop:
        while not stop.wait(1.0):
            pass
