"""``/healthz``, ``/readyz`` and ``/metrics``: no key needed (api.md).

- ``/healthz``: the process answers (``200 {"status": "ok"}``).
- ``/readyz``: ``200`` when the lake is readable (an absent lake whose parent
  exists counts: it is an empty lake) and, when a broker is configured, a TCP
  connection to it opens; else ``503 unavailable`` with the failed checks.
  A ready answer says ``"status": "degraded"`` (still ``200``: queries are
  answered) when the lake holds unreadable Parquet files the answers leave
  out (``checks.files``) or a consumer reports it is waiting out a disk
  fault (``checks.ingest``, from its health file in ``<lake>/_ingest/``).
- ``/metrics``: Prometheus text format (see :mod:`tracelake.api.telemetry`).
"""

from __future__ import annotations

import os

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from tracelake.api.context import AppContext
from tracelake.api.producer import kafka_reachable
from tracelake.api.responses import JsonResponse
from tracelake.errors import Unavailable
from tracelake.lake.lake import Lake

router = APIRouter(tags=["operations"])


def lake_readable(the_lake: Lake) -> tuple[bool, str]:
    """Whether the lake can be read: a local directory (or its parent, before the first write), or an object
    store whose ``events`` table can be opened (one listing of its log)."""
    if the_lake.is_remote:
        from tracelake.lake.files import one_line
        from tracelake.lake.tables import EVENTS

        try:
            the_lake.data_files(EVENTS)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready; reported in one line
            return False, f"cannot read {the_lake}: {one_line(exc)}"
        return True, "readable"
    lake = the_lake.local_root
    if lake.exists():
        if lake.is_dir() and os.access(lake, os.R_OK | os.X_OK):
            return True, "readable"
        return False, f"{lake} is not a readable directory"
    parent = lake.resolve().parent
    if parent.is_dir() and os.access(parent, os.R_OK | os.X_OK):
        return True, "empty (not created yet)"
    return False, f"{lake} does not exist and neither does its parent"


@router.get("/healthz", summary="The process is up")
def healthz() -> JsonResponse:
    return JsonResponse({"status": "ok"})


@router.get("/readyz", summary="Lake readable and Kafka reachable (when configured)",
            responses={503: {"description": "not ready: the failed checks are listed"}})
def readyz(request: Request) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    ok, lake_detail = lake_readable(ctx.lake)
    checks = {"lake": lake_detail}
    bootstrap = ctx.settings.kafka_bootstrap
    if bootstrap:
        reachable = kafka_reachable(bootstrap)
        checks["kafka"] = "reachable" if reachable else f"cannot connect to {bootstrap}"
        ok = ok and reachable
    else:
        checks["kafka"] = "not configured (ingested events wait in the spool)"
    if not ok:
        raise Unavailable("not ready: " + "; ".join(f"{k}: {v}" for k, v in checks.items()),
                          extra={"checks": checks})
    degraded = _degraded(ctx.lake, checks)
    return JsonResponse({"status": "degraded" if degraded else "ready", "checks": checks})


def _degraded(lake: Lake, checks: dict[str, str]) -> bool:
    """Add the ``files`` and ``ingest`` checks; True when either found something (the API still serves)."""
    from tracelake.ingest.write_retry import read_health
    from tracelake.queries.views import skipped_files

    bad = skipped_files(lake)  # the footer check, cached by (path, size, mtime): cheap on every probe
    if bad:
        names = ", ".join(str(b.path) for b in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        checks["files"] = (f"{len(bad)} unreadable Parquet file{'s' if len(bad) > 1 else ''} left out of every "
                           f"answer: {names} (run 'tracelake lake check' to quarantine them)")
    else:
        checks["files"] = "every Parquet file readable"
    waiting = read_health(lake.state_dir)
    if waiting:
        first = waiting[0]
        checks["ingest"] = (f"{len(waiting)} consumer{'s' if len(waiting) > 1 else ''} waiting for the lake to "
                            f"accept writes (since {first.get('since')}: {first.get('error')}); "
                            "batches are held uncommitted and retried")
    else:
        checks["ingest"] = "no consumer reports a write fault"
    return bool(bad or waiting)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
