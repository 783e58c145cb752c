"""Dashboard page server time: ``dashboard_data(...)`` in process on the cached 30-day bench lake.

    .venv/bin/python bench/dashboard.py [--lake DIR] [--now T] [--tenant T] [--repeats 3] [--threads 2] [--profile]

Times what ``GET /dashboard`` computes before rendering
(:func:`tracelake.api.dashboard.data.dashboard_data`: every panel, the canary
verdicts, the alerts and the run list), without HTTP, ``--repeats`` times in
one process (the first call is not dropped: the lake's file listing is cached
after it, as in the API), and prints each call's seconds, the median, and how
many lake connections (:class:`~tracelake.queries.engine.LakeConnection`) one
page opened. Also the load average, since the machine may be shared.

``--lake`` defaults to ``~/.cache/tracelake/bench-delta-10000000-30-1``, the
10M-event lake ``bench/analytics.py`` builds (run that first): every run
recomputed from its events (the event-level path). Its fast copy,
``~/.cache/tracelake/bench-fast-10000000-30-1-open1`` (closed days compacted,
the runs rollup built; ``bench/analytics.py`` makes it and runs this script on
it), is what a live lake reads. Lakes are only read. ``--now`` defaults to
midnight after the lake's last ``events`` day, so the dashboard's 8 days hold
data. ``--tenant`` scopes the page as a key of that tenant would (default:
every tenant, an all-tenant key). ``--profile``: after the medians, the
queries of the last page by name (count, total seconds), slowest first.

The issue's target: ≤ 1 s server time on this lake. Targets live here, never
in the tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any, cast

from tracelake.errors import TracelakeError
from tracelake.lake.lake import Lake
from tracelake.lake.tables import EVENTS
from tracelake.queries import engine
from tracelake.queries.timewin import parse_time
from tracelake.settings import Settings

DEFAULT_LAKE = Path.home() / ".cache" / "tracelake" / "bench-delta-10000000-30-1"


@dataclass
class BenchContext:
    """What :func:`dashboard_data` reads of the app's context: the settings and the lake."""

    settings: Settings
    lake: Lake


class ConnectionCounter:
    """Counts :class:`LakeConnection` constructions, and times its queries by name, while installed (bench only)."""

    def __init__(self) -> None:
        self.count = 0
        self.queries: dict[str, list[float]] = defaultdict(list)
        self._init = engine.LakeConnection.__init__
        self._query = engine.LakeConnection.query

    def __enter__(self) -> ConnectionCounter:
        init, query = self._init, self._query

        def counting(con: engine.LakeConnection, *args: Any, **kwargs: Any) -> None:
            self.count += 1
            init(con, *args, **kwargs)

        def timing(con: engine.LakeConnection, *args: Any, name: str, **kwargs: Any) -> engine.QueryResult:
            start = time.perf_counter()
            try:
                return query(con, *args, name=name, **kwargs)
            finally:
                self.queries[name].append(time.perf_counter() - start)

        engine.LakeConnection.__init__ = counting  # type: ignore[method-assign,assignment]
        engine.LakeConnection.query = timing  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        engine.LakeConnection.__init__ = self._init  # type: ignore[method-assign]
        engine.LakeConnection.query = self._query  # type: ignore[method-assign]


def lake_end(lake: Lake) -> datetime:
    """Midnight UTC after the lake's last ``events`` partition. Exits with a one-line message on an empty lake."""
    days = list(lake.partitions(EVENTS))
    if not days:
        sys.exit(f"bench/dashboard.py: no events in {lake} (build it with bench/analytics.py)")
    return datetime.combine(max(days) + timedelta(days=1), clock_time(), tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, default=DEFAULT_LAKE)
    parser.add_argument("--now", default=None, help="RFC 3339 (default: midnight after the lake's last day)")
    parser.add_argument("--tenant", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads per connection")
    parser.add_argument("--profile", action="store_true", help="the last page's queries by name")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # each repeat shows as it ends
    if not (args.lake / "events").is_dir():
        sys.exit(f"bench/dashboard.py: no events table in {args.lake} (run bench/analytics.py first)")

    from tracelake.api.dashboard.data import dashboard_data

    settings = Settings(lake=args.lake, duckdb_threads=args.threads)
    lake = Lake.from_settings(settings)
    ctx = BenchContext(settings, lake)
    now = parse_time(args.now) if args.now else lake_end(lake)
    print(f"lake {args.lake}, now {now.isoformat()}, tenant {args.tenant or 'every'}, "
          f"{args.threads} DuckDB threads, load average before {os.getloadavg()[0]:.2f}")
    seconds: list[float] = []
    last: dict[str, list[float]] = {}
    connections: list[int] = []
    failures = 0
    for _ in range(max(1, args.repeats)):  # bounded by --repeats
        with ConnectionCounter() as counter:
            start = time.perf_counter()
            try:
                data = dashboard_data(cast(Any, ctx), args.tenant, now)
            except TracelakeError as exc:  # e.g. a query over its memory budget: the page fails
                print(f"  failed after {time.perf_counter() - start:.2f} s, {counter.count} connection(s): "
                      f"{exc}")
                failures += 1
                continue
            seconds.append(time.perf_counter() - start)
        connections.append(counter.count)
        last = dict(counter.queries)
        print(f"  {seconds[-1]:.2f} s, {counter.count} connection(s), {len(data['canaries'])} canaries, "
              f"{len(data['runs'])} runs listed, load average {os.getloadavg()[0]:.2f}")
    if not seconds:
        print(f"dashboard_data failed all {failures} time(s)")
        return 1
    print(f"dashboard_data median of {len(seconds)}: {statistics.median(seconds):.2f} s "
          f"(min {min(seconds):.2f}, max {max(seconds):.2f}); connections per page: {max(connections)}; "
          f"failed {failures}; "
          f"load average after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.profile:
        print("queries of the last page (name, count, seconds):")
        for name, times in sorted(last.items(), key=lambda kv: -sum(kv[1])):
            print(f"  {name:<40}{len(times):>4}{sum(times):>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
