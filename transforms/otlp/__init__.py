"""OTLP traces → trace events v1: the transform behind ``POST /v1/otlp/v1/traces``, pure (no FastAPI, no I/O).

:func:`decode_protobuf` / :func:`decode_json` turn an OTLP/HTTP
``ExportTraceServiceRequest`` body into :class:`OtlpSpan` values; the
:func:`to_events` mapping turns spans into contract events following the
OpenTelemetry GenAI semantic conventions, one small mapper per span kind
(:mod:`.kinds`). In short:

================================  =============================================
span                              events
================================  =============================================
root span (no parent)             ``run_started`` at its start and
                                  ``run_finished`` at its end (``outcome``
                                  ``failure`` when the span is an error, else
                                  ``success``; ``tracelake.outcome`` overrides)
``gen_ai.operation.name`` =       ``llm_call``: ``model`` ← ``gen_ai.request.model``
``chat`` / ``text_completion`` /  (else ``gen_ai.response.model``), ``provider``
``generate_content``              ← ``gen_ai.provider.name`` / ``gen_ai.system``,
                                  ``input_tokens`` / ``output_tokens`` ←
                                  ``gen_ai.usage.*_tokens``
``execute_tool``                  ``tool_call``: ``tool_name`` ← ``gen_ai.tool.name``,
                                  ``tool_args`` ← ``gen_ai.tool.call.arguments``
                                  (JSON), ``tool_result`` ←
                                  ``gen_ai.tool.call.result``, ``success``
``invoke_agent`` (not the root),  ``custom`` with ``name`` = the operation or
any other span                    span name
================================  =============================================

Every event carries ``span_id`` / ``parent_span_id`` (hex), ``ts`` (span
start, UTC), ``duration_ms``, ``status`` and ``error`` (``error.type``, or the
``exception`` span event, with the status message), ``agent`` ←
``gen_ai.agent.name``, ``environment`` ← ``deployment.environment[.name]``;
attributes not consumed stay in ``attributes`` with ``otel.trace_id`` and
``otel.span_name``. ``workflow``, ``workflow_version``, ``run_id`` and
``tenant`` come from the first present key of :class:`OtlpMapping`'s lists,
looked up in the span's attributes, then the resource's; ``run_id`` falls
back to the trace id. ``event_id`` is derived from trace id, start time and span id, so a
re-exported batch is the same events (the lake keeps one copy) and events
that share a millisecond sort by start.

Modules: :mod:`.decode_protobuf` and :mod:`.decode_json` (bodies → spans),
:mod:`.attributes` (reading and consuming attributes), :mod:`.kinds` (the
mappers), :mod:`.mapping` (fields every event shares, and the dispatch).

Failure modes: a body that is not an OTLP request raises :class:`OtlpError`
(a :class:`~tracelake.errors.UserError`: one line, 400 in the API); given
``max_spans``, a request with more spans raises :class:`TooManySpans` (413)
after the cheap parse and before spans are decoded; a span
that maps to an invalid event is left for the contract validator to refuse,
with its reason.
"""

from tracelake.transforms.otlp.attributes import iso_from_ns
from tracelake.transforms.otlp.decode_json import decode_json
from tracelake.transforms.otlp.decode_protobuf import decode_protobuf
from tracelake.transforms.otlp.mapping import span_events, to_events
from tracelake.transforms.otlp.spans import OtlpError, OtlpMapping, OtlpSpan, TooManySpans

__all__ = ["OtlpError", "OtlpMapping", "OtlpSpan", "TooManySpans", "decode_json", "decode_protobuf", "iso_from_ns",
           "span_events", "to_events"]
