"""What the dashboard tests and ``scripts/dashboard-screenshot.py`` share: fleet data and Debian's Chromium.

- :func:`fleet_events`: a fleet's traffic (the real SDK, simulated clock, the
  bad canary refund_request v4) ending now, so the dashboard's windows hold it.
- :func:`fleet_lake`: those events through the ingest-file chain into a lake,
  then one alert evaluation (stored in the lake's ``alerts`` table).
- :func:`launch_chromium`: Playwright driving ``/usr/bin/chromium`` headless.
  Never ``playwright install``: no browser is downloaded.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tracelake.fleet import Fleet, FleetConfig
from tracelake.sdk import Client
from tracelake.sdk.transport import MemoryTransport

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None. In CI (``CI`` set) a missing browser is a failure, not a skip."""
    if os.path.exists(CHROMIUM) or os.environ.get("CI"):
        return None
    return "Debian's chromium is not installed (apt-get install chromium); CI installs it"


def fleet_events(spool: Path, runs: int, seed: int = 5) -> list[dict[str, Any]]:
    """``runs`` fleet runs spread over the 8 days before now, as the SDK delivered them."""
    fleet = Fleet(FleetConfig(seed=seed))
    transport = MemoryTransport()
    with Client(transport=transport, clock=fleet.clock, spool_dir=str(spool)) as client:
        fleet.run(client, runs=runs)
        if not client.flush(30):
            raise RuntimeError("the SDK did not deliver every fleet event within 30 s")
    return [orjson.loads(r.value) for r in transport.delivered]


def fleet_lake(lake: Path, work: Path, runs: int, redactor: Any, seed: int = 5) -> int:
    """Fill ``lake`` with ``runs`` fleet runs (validated, redacted by ``redactor``) and evaluate the default alert
    rules once at now (stored). Returns the number of alerts stored. Raises AssertionError if an event is refused."""
    from tracelake.ingest.file_ingest import ingest_stream
    from tracelake.ingest.setup import make_parts
    from tracelake.queries.alerts.rules import load_rules
    from tracelake.queries.alerts.runner import run_once
    from tracelake.settings import Settings

    work.mkdir(parents=True, exist_ok=True)
    source = work / "fleet.jsonl"
    source.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in fleet_events(work / "spool", runs, seed)))
    summary = ingest_stream([str(source)], make_parts(Settings(lake=lake), redactor=redactor), lake)
    assert summary.rejected == 0, summary
    return len(run_once(lake, load_rules(None), datetime.now(UTC)).alerts)


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium, headless, through Playwright (``playwright.chromium.launch``)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
