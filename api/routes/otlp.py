"""``POST /v1/otlp/v1/traces``: OTLP/HTTP traces (protobuf or JSON) → contract events → Kafka.

Point an OpenTelemetry exporter at ``http://HOST:8000/v1/otlp`` (its traces
path ``/v1/traces`` is appended) with the key in a header
(``OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20tlk_…``).

Answers, as OTLP/HTTP expects: ``200`` with an ``ExportTraceServiceResponse``
in the request's encoding; spans whose events were refused are counted in
``partial_success.rejected_spans`` with the first reason. Every span refused:
the same ``403`` / ``413`` / ``422`` as ``POST /v1/events``. A body that is
not an OTLP request: ``400``. ``gzip`` request bodies are accepted (bounded
by the body limit after decompression too).

The mapping itself is the transform :mod:`tracelake.transforms.otlp`; this
route reads the body, calls it and hands the events to the same ingest path
as ``POST /v1/events``.

Limits, cheapest first, so a hostile body costs little and never holds the
event loop: the Content-Type before the body is read; the body size
(``api_max_body_bytes``) on ``Content-Length`` and again while streaming, and
after gunzip; then, off the loop, the span count (``api_max_events``:
each span is at least one event) right after the parse and before any span is
decoded, then the event count after the mapping. Decoding, mapping and
validation all run off the loop (a worker thread, or a worker process for
bodies of 1 MiB and more: :mod:`tracelake.api.otlp_work`): on the loop,
65 000 spans held ``/healthz`` for seconds.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tracelake.api.auth import IngestKey
from tracelake.api.body import read_body
from tracelake.api.context import AppContext
from tracelake.api.otlp_work import OtlpLimits, OtlpResult, ingest_otlp
from tracelake.api.responses import dumps
from tracelake.api.routes.events import THREADPOOL_ITEMS, refuse_all, submit
from tracelake.errors import UserError
from tracelake.settings import Settings
from tracelake.transforms.otlp import OtlpMapping

router = APIRouter(tags=["ingest"])

PROTOBUF = "application/x-protobuf"
# Bodies this large are decoded in a worker process (api/otlp_work.py); an exporter's default batch
# (512 spans, a few hundred KB) stays in a thread, where a parse holds the GIL for a few ms only.
PROCESS_BYTES = 1024 * 1024


def mapping_from(settings: Settings) -> OtlpMapping:
    return OtlpMapping(
        workflow_keys=tuple(settings.otlp_workflow_keys),
        version_keys=tuple(settings.otlp_version_keys),
        run_keys=tuple(settings.otlp_run_keys),
        tenant_keys=tuple(settings.otlp_tenant_keys),
    )


def _is_protobuf(content_type: str) -> bool:
    """The request's encoding from its Content-Type; any other type is a 400."""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type not in (PROTOBUF, "application/json"):
        raise UserError(f"Content-Type must be {PROTOBUF} or application/json, not {media_type or 'absent'}")
    return media_type == PROTOBUF


def _answer(protobuf: bool, rejected_spans: int, message: str) -> Response:
    if protobuf:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        answer = ExportTraceServiceResponse()
        if rejected_spans:
            answer.partial_success.rejected_spans = rejected_spans
            answer.partial_success.error_message = message
        return Response(answer.SerializeToString(), media_type=PROTOBUF)
    body: dict[str, Any] = {}
    if rejected_spans:
        body["partialSuccess"] = {"rejectedSpans": str(rejected_spans), "errorMessage": message}
    return Response(dumps(body), media_type="application/json")


_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An OTLP ExportTraceServiceRequest (OTLP/HTTP, protobuf or JSON encoding).",
        "content": {
            PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


@router.post("/v1/otlp/v1/traces", summary="OTLP/HTTP traces (GenAI semantic conventions) → trace events",
             openapi_extra=_BODY_DOC, response_class=Response,
             responses={200: {"description": "ExportTraceServiceResponse (protobuf or JSON)"}})
async def post_traces(request: Request, key: IngestKey) -> Response:
    ctx: AppContext = request.app.state.ctx
    settings = ctx.settings
    protobuf = _is_protobuf(request.headers.get("content-type", ""))  # before reading a body we would refuse
    body = await read_body(request, settings.api_max_body_bytes)
    gzipped = request.headers.get("content-encoding", "").lower() == "gzip"
    limits = OtlpLimits(settings.api_max_body_bytes, settings.api_max_events, settings.max_event_bytes)
    args = (body, gzipped, protobuf, key, mapping_from(settings), limits)
    # Everything CPU-bound, from gunzip to validation, off the loop: a thread for an exporter's usual batch,
    # a worker process for a large body, whose parse would hold the GIL (and so the loop) for too long.
    if len(body) >= PROCESS_BYTES:
        result: OtlpResult = await request.app.state.otlp_workers.run(ingest_otlp, *args)
    else:
        result = await run_in_threadpool(ingest_otlp, *args)
    outcome = result.outcome
    if result.events and not outcome.records:
        for refusal in outcome.refused:
            ctx.metrics.refused.labels("otlp", refusal.code).inc()
        raise refuse_all(outcome)
    if len(outcome.records) > THREADPOOL_ITEMS:  # queueing thousands of records takes tens of ms
        await run_in_threadpool(submit, ctx, outcome, "otlp")
    else:
        submit(ctx, outcome, "otlp")
    message = outcome.refused[0].reason if outcome.refused else ""
    return _answer(protobuf, result.rejected_spans, message)
