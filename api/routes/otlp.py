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
"""

from __future__ import annotations

import zlib
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from tracelake.api.auth import IngestKey
from tracelake.api.body import read_body
from tracelake.api.context import AppContext
from tracelake.api.ingest import process_events
from tracelake.api.responses import dumps
from tracelake.api.routes.events import refuse_all, submit
from tracelake.errors import TooLarge, UserError
from tracelake.settings import Settings
from tracelake.transforms.otlp import OtlpMapping, decode_json, decode_protobuf, to_events

router = APIRouter(tags=["ingest"])

PROTOBUF = "application/x-protobuf"


def mapping_from(settings: Settings) -> OtlpMapping:
    return OtlpMapping(
        workflow_keys=tuple(settings.otlp_workflow_keys),
        version_keys=tuple(settings.otlp_version_keys),
        run_keys=tuple(settings.otlp_run_keys),
        tenant_keys=tuple(settings.otlp_tenant_keys),
    )


def _gunzip(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise UserError(f"Content-Encoding gzip but the body is not gzip: {exc}") from None
    if len(out) > limit:
        raise TooLarge(f"body over the size limit of {limit} bytes once decompressed")
    return out


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
    body = await read_body(request, settings.api_max_body_bytes)
    if request.headers.get("content-encoding", "").lower() == "gzip":
        body = _gunzip(body, settings.api_max_body_bytes)
    protobuf = _is_protobuf(request.headers.get("content-type", ""))
    # A body that is not an OTLP request raises OtlpError: a UserError, answered 400.
    spans = decode_protobuf(body) if protobuf else decode_json(body)
    pairs = to_events(spans, mapping_from(settings))
    if len(pairs) > settings.api_max_events:
        raise TooLarge(f"{len(pairs)} events in one request; the limit is {settings.api_max_events}")
    outcome = process_events([event for _, event in pairs], key, settings.max_event_bytes)
    if pairs and not outcome.records:
        for refusal in outcome.refused:
            ctx.metrics.refused.labels("otlp", refusal.code).inc()
        raise refuse_all(outcome)
    submit(ctx, outcome, "otlp")
    rejected_spans = len({pairs[r.index][0] for r in outcome.refused})
    message = outcome.refused[0].reason if outcome.refused else ""
    return _answer(protobuf, rejected_spans, message)
