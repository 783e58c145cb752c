"""Issue 11, item 1: `tracelake api` (a real process) under concurrent hostile SQL keeps its budgets.

Before the budgets, one ``SELECT len(range(50000000))`` took the API process
to 3.7 GB and 13 s. Here eight statements that build huge values, run long,
spill or answer hundreds of MB are sent at once with a read key, twice over;
the server's RSS, the RSS of the server with its query workers, and the
latency of ``/healthz`` are sampled all along (psutil is not a dependency:
``/proc``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import wait_until
from tracelake.api.keys import create_key
from tracelake.localkafka import free_port

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")

# Measured on a 2-core VM: the server peaks at 140-320 MB (it holds only answers, each at most 32 MiB, a few
# copies while it encodes them); with its 4 workers and the fork server 1.3-1.4 GB; /healthz 40-130 ms
# (printed, not asserted).
SERVER_RSS_BOUND_MB = 600
TOTAL_RSS_BOUND_MB = 2500

HOSTILE = [
    # refused by the static check (422)
    "SELECT len(range(50000000)) AS n",
    "SELECT length(repeat('x', 1000000000)) AS n",
    # pass the check, then hit the worker's memory cap (413)
    "SELECT length(repeat(s, 100)) FROM (SELECT string_agg(repeat('x', 1000), '') s FROM range(300000))",
    "SELECT len(string_split(s, 'x')) FROM (SELECT string_agg(repeat('x', 1000), '') s FROM range(200000))",
    # a long scalar call the interrupt does not stop: killed past its time limit (504) or out of memory (413)
    "SELECT length(regexp_replace(s, 'x', 'yy', 'g')) FROM (SELECT string_agg('x', '') s FROM range(60000000))",
    # an answer of 100 MB: truncated by bytes (200, truncated)
    "SELECT repeat('x', 100000) AS big FROM range(1000)",
    # a sort that spills: capped by the spill budget (413) or the time limit (504)
    "SELECT count(*) FROM (SELECT i::VARCHAR AS s FROM range(100000000) t(i) ORDER BY s DESC)",
    # plain CPU: the time limit (504)
    "SELECT count(*) FROM range(100000000000) a(x) WHERE x % 7 = 3",
]


def _status(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            return {k: v.strip() for k, _, v in (line.partition(":") for line in f)}
    except (FileNotFoundError, ProcessLookupError):
        return {}


def _rss_mb(pid: int) -> int:
    value = _status(pid).get("VmRSS", "0 kB").split()[0]
    return int(value) // 1024


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ppid = _status(int(entry)).get("PPid")
            if ppid:
                parents[int(entry)] = int(ppid)
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        found.extend(children)
        frontier.extend(children)
    return found


# /healthz is timed from its own process: JSON-decoding the hostile answers in this one would hold its GIL.
HEALTHZ_PROBE = """
import sys, time, httpx
url, stop = sys.argv[1], sys.argv[2]
worst, count = 0.0, 0
with httpx.Client(timeout=5) as client:
    while True:
        started = time.monotonic()
        assert client.get(url + "/healthz").status_code == 200
        worst, count = max(worst, time.monotonic() - started), count + 1
        try:
            open(stop).close()
            break
        except FileNotFoundError:
            time.sleep(0.05)
print(worst, count)
"""


class Sampler(threading.Thread):
    """Peak RSS of the server and of the server plus its descendants until stopped; /healthz in a subprocess."""

    def __init__(self, pid: int, url: str, stop_file: Path) -> None:
        super().__init__(daemon=True)
        self.pid, self.stop_file = pid, stop_file
        self.server_peak = self.total_peak = 0
        self.stop = threading.Event()
        self.probe = subprocess.Popen([sys.executable, "-c", HEALTHZ_PROBE, url, str(stop_file)],
                                      stdout=subprocess.PIPE)

    def run(self) -> None:
        while not self.stop.is_set():
            server = _rss_mb(self.pid)
            total = server + sum(_rss_mb(child) for child in _descendants(self.pid))
            self.server_peak, self.total_peak = max(self.server_peak, server), max(self.total_peak, total)
            self.stop.wait(0.05)

    def finish(self) -> tuple[float, int]:
        """Stop sampling; (slowest /healthz in seconds, how many were timed)."""
        self.stop.set()
        self.join(10)
        self.stop_file.touch()
        out, _ = self.probe.communicate(timeout=30)
        worst, count = out.split()
        return float(worst), int(count)


@pytest.fixture
def api(tmp_path: Path, write_lake: Any, agent_run: Any) -> Any:
    lake = tmp_path / "lake"
    write_lake(lake, agent_run("r1", "acme") + agent_run("r2", "globex", minute=1))
    key, _ = create_key(tmp_path / "keys.toml", "acme", "read")
    port = free_port()
    workdir = tmp_path / "cwd"  # the server's working directory: nothing may spill here
    workdir.mkdir()
    log = tmp_path / "api.log"
    env = {**os.environ, "TRACELAKE_API_SPOOL_DIR": str(tmp_path / "spool"), "TRACELAKE_SQL_TIMEOUT_S": "5",
           "TRACELAKE_QUERY_TEMP_DIR": str(tmp_path / "spill"), "TRACELAKE_QUERY_TEMP_MAX_SIZE": "800MB",
           "TRACELAKE_QUERY_QUEUE_WAIT_S": "10"}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tracelake.cli.main", "api", "--host", "127.0.0.1",
                                 "--port", str(port), "--lake", str(lake), "--keys", str(tmp_path / "keys.toml")],
                                stdout=out, stderr=out, cwd=workdir, env=env)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return proc.poll() is not None

    try:
        assert wait_until(ready, timeout=60) and proc.poll() is None, log.read_text()
        yield {"proc": proc, "url": url, "key": key, "workdir": workdir, "spill": tmp_path / "spill", "log": log}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_concurrent_hostile_sql_keeps_rss_bounded_and_healthz_fast(api: dict[str, Any]) -> None:
    sampler = Sampler(api["proc"].pid, api["url"], api["workdir"].parent / "stop-probe")
    sampler.start()
    answers: list[tuple[str, int, dict[str, Any]]] = []

    def send(sql: str) -> tuple[str, int, dict[str, Any]]:
        with httpx.Client(timeout=90, headers={"Authorization": f"Bearer {api['key']}"}) as client:
            r = client.post(f"{api['url']}/v1/sql", json={"sql": sql})
            return sql, r.status_code, r.json()

    try:
        with ThreadPoolExecutor(len(HOSTILE)) as pool:
            for _ in range(2):
                answers.extend(pool.map(send, HOSTILE))
    finally:
        worst_healthz, probes = sampler.finish()
    by_sql: dict[str, set[int]] = {}
    for sql, status, body in answers:
        by_sql.setdefault(sql, set()).add(status)
        assert status in (200, 413, 422, 429, 504), (sql, status, body)
        if status == 200:
            assert body["truncated"] is True and sum(len(row["big"]) for row in body["rows"]) <= 32 * 1024 * 1024
        else:
            assert "\n" not in body["error"]["message"], body
    assert by_sql[HOSTILE[0]] <= {422, 429} and by_sql[HOSTILE[1]] <= {422, 429}
    assert by_sql[HOSTILE[2]] <= {413, 429} and by_sql[HOSTILE[7]] <= {504, 429}
    assert by_sql[HOSTILE[5]] <= {200, 429}
    # /healthz kept answering 200 all along (each probe within the client's 5 s timeout, or the probe fails);
    # how fast is a figure for docs/security.md, not a test assertion (a loaded machine would fail it).
    assert probes > 10, probes
    assert sampler.server_peak < SERVER_RSS_BOUND_MB, sampler.server_peak
    assert sampler.total_peak < TOTAL_RSS_BOUND_MB, sampler.total_peak
    print(f"server peak {sampler.server_peak} MB, with workers {sampler.total_peak} MB, "
          f"slowest of {probes} /healthz {worst_healthz * 1000:.0f} ms, answers {sorted(by_sql.items())}")
    # Spill went to the configured directory, never the working directory; a legitimate query still answers.
    assert list(api["workdir"].iterdir()) == []
    with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {api['key']}"}) as client:
        r = client.post(f"{api['url']}/v1/sql", json={"sql": "SELECT count(*) AS n FROM runs"})
        assert r.status_code == 200 and r.json()["rows"] == [{"n": 1}], r.text


def test_sql_route_maps_the_budgets(serve: Any, settings: Any, keys: dict[str, Any], write_lake: Any,
                                    agent_run: Any) -> None:
    """422 for a refused value builder, 200 ``truncated`` at the byte cap, 413 past the worker's memory cap."""
    write_lake(settings.lake, agent_run("r1", "acme"))
    settings.api_keys_file = keys["path"]
    settings.sql_max_bytes = 5000
    server = serve(settings)
    with server.client(keys["acme-read"]) as c:
        r = c.post("/v1/sql", json={"sql": "SELECT len(range(50000000)) AS n"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid"
        assert r.json()["error"]["message"].startswith("refused: range() as a value would build a list")
        r = c.post("/v1/sql", json={"sql": "SELECT repeat('x', 1000) AS s FROM range(100)"})
        assert r.status_code == 200 and r.json()["truncated"] is True and len(r.json()["rows"]) == 4
        r = c.post("/v1/sql", json={"sql": "SELECT length(repeat(s, 100)) FROM "
                                           "(SELECT string_agg(repeat('x', 1000), '') s FROM range(300000))"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large", r.text
