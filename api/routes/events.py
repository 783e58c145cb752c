"""``POST /v1/events``: contract events over HTTP → Kafka.

Answers:

- ``202`` every event accepted: ``{"accepted": n, "event_ids": [...]}``;
- ``207`` some accepted, some refused: the same plus ``"rejected": n`` and
  ``"errors": [{"index", "event_id"?, "reason"}, ...]`` (``index`` counts
  events from 0 in body order);
- every event refused: ``422 invalid`` (``403 forbidden`` when every refusal
  is the tenant rule, ``413 too_large`` when every one is over the event
  size limit), with the same ``errors`` list inside the error object;
- ``400`` an empty or malformed body, a Content-Type other than JSON or
  NDJSON (a form or text type only with a key header: ``curl -d``), ``413`` a body over the body limit or
  more events than ``api_max_events``, ``429 busy`` when Kafka is not taking
  events and the spool is full.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from tracelake.api.auth import IngestKey
from tracelake.api.body import read_body, require_json
from tracelake.api.context import AppContext
from tracelake.api.ingest import Outcome, process, split_body
from tracelake.api.responses import JsonResponse
from tracelake.errors import Busy, Forbidden, Refused, TooLarge, TracelakeError

router = APIRouter(tags=["ingest"])
THREADPOOL_ITEMS = 200
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl")


class ItemError(BaseModel):
    index: int = Field(description="position of the event in the body, from 0")
    event_id: str | None = None
    reason: str = Field(description="why it was refused; names the field first")


class IngestAnswer(BaseModel):
    accepted: int
    event_ids: list[str]
    rejected: int = 0
    errors: list[ItemError] = []


_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A JSON array of trace events, or NDJSON (one event per line).",
        "content": {
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}


def submit(ctx: AppContext, outcome: Outcome, source: str) -> None:
    """Hand the accepted events to Kafka (or refuse with 429) and count."""
    incoming = sum(len(value) for _, value in outcome.records)
    if outcome.records and ctx.producer.busy(incoming):
        raise Busy("Kafka is not taking events and the spool is full; retry later", headers={"Retry-After": "5"})
    ctx.producer.submit(outcome.records)
    ctx.metrics.accepted.labels(source).inc(len(outcome.records))
    for refusal in outcome.refused:
        ctx.metrics.refused.labels(source, refusal.code).inc()


def refuse_all(outcome: Outcome) -> TracelakeError:
    codes = {r.code for r in outcome.refused}
    errors = [r.as_dict() for r in outcome.refused]
    n = len(outcome.refused)
    if codes == {"tenant"}:
        return Forbidden(f"every event ({n}) names a tenant outside the key's scope", extra={"errors": errors})
    if codes == {"too_large"}:
        return TooLarge(f"every event ({n}) is over the event size limit", extra={"errors": errors})
    first = outcome.refused[0].reason
    return Refused(f"every event ({n}) was refused; the first: {first}", extra={"errors": errors})


@router.post(
    "/v1/events",
    status_code=202,
    response_model=IngestAnswer,
    responses={207: {"model": IngestAnswer, "description": "some events accepted, some refused"}},
    openapi_extra=_BODY_DOC,
    summary="Ingest trace events (JSON array or NDJSON)",
)
async def post_events(request: Request, key: IngestKey) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    settings = ctx.settings
    require_json(request, also=NDJSON_TYPES)  # no cross-site simple request (http-api.md)
    body = await read_body(request, settings.api_max_body_bytes)
    items = split_body(body, settings.max_event_bytes)  # BadBody: a 400
    if len(items) > settings.api_max_events:
        raise TooLarge(f"{len(items)} events in one request; the limit is {settings.api_max_events}")
    # Validation is CPU work: a large batch runs in the threadpool so it does not stall other requests.
    if len(items) > THREADPOOL_ITEMS:
        outcome = await run_in_threadpool(process, items, key, settings.max_event_bytes)
    else:
        outcome = process(items, key, settings.max_event_bytes)
    if not outcome.records:
        for refusal in outcome.refused:
            ctx.metrics.refused.labels("http", refusal.code).inc()
        raise refuse_all(outcome)
    submit(ctx, outcome, "http")
    answer: dict[str, Any] = {"accepted": len(outcome.event_ids), "event_ids": outcome.event_ids}
    if outcome.refused:
        answer |= {"rejected": len(outcome.refused), "errors": [r.as_dict() for r in outcome.refused]}
        return JsonResponse(answer, status_code=207)
    return JsonResponse(answer, status_code=202)
