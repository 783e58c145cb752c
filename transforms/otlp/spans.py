"""The values the OTLP transform passes between its steps: a decoded span, the mapping's settings, its error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tracelake.errors import TooLarge, UserError

STATUS_ERROR = 2  # OTLP's Status.code for an error (0 unset, 1 ok)


class OtlpError(UserError):
    """The body is not a valid OTLP trace export request (400 in the API, one line)."""


class TooManySpans(TooLarge):
    """A request carries more spans than allowed (413 in the API); raised before any span is decoded."""


def check_span_count(count: int, max_spans: int | None) -> None:
    """Raise :class:`TooManySpans` when ``count`` is over ``max_spans`` (None: no limit)."""
    if max_spans is not None and count > max_spans:
        raise TooManySpans(f"{count} spans in one request; the limit is {max_spans}")


@dataclass(frozen=True)
class OtlpMapping:
    """Which attributes name the run's workflow, version, id and tenant (first present wins)."""

    workflow_keys: tuple[str, ...] = ("tracelake.workflow", "gen_ai.agent.name", "service.name")
    version_keys: tuple[str, ...] = ("tracelake.workflow_version", "gen_ai.agent.version", "service.version")
    run_keys: tuple[str, ...] = ("tracelake.run_id", "gen_ai.conversation.id")
    tenant_keys: tuple[str, ...] = ("tracelake.tenant",)
    default_workflow: str = "otlp"
    default_version: str = "unversioned"


@dataclass
class OtlpSpan:
    """One span as both encodings decode it: ids in lowercase hex, times in Unix nanoseconds,
    attribute values as plain Python values (bytes as hex)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str | None = None
    status_code: int = 0
    status_message: str = ""
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def is_root(self) -> bool:
        """A span without a parent is the run itself."""
        return self.parent_span_id is None
