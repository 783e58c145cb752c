"""What an agent developer imports: :class:`Client`, :class:`Run`, the tool decorator.

Contract: nothing here blocks on Kafka or raises because of telemetry. The
agent's own exceptions pass through untouched (a ``run`` block that raises
records ``outcome = failure`` with the exception type and re-raises).
``emit`` fills ``schema_version``, ``event_id`` (UUIDv7: time-ordered),
``ts`` (UTC, millisecond precision, with offset) and the client's defaults,
encodes, enqueues and returns the event id.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import os
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import orjson
from uuid6 import uuid7

from tracelake.sdk.config import SdkConfig
from tracelake.sdk.flags import Admission, Flag, FlagReader, RunRefused
from tracelake.sdk.sender import Sender, SenderOptions, SenderStats
from tracelake.sdk.transport import KafkaTransport, Record, Transport

log = logging.getLogger("tracelake.sdk")

P = ParamSpec("P")
R = TypeVar("R")

# Fields a client or run sets once and every event inherits.
COMMON_FIELDS = ("workflow", "workflow_version", "tenant", "team", "release", "environment", "agent")

_current_run: contextvars.ContextVar[Run | None] = contextvars.ContextVar("tracelake_run", default=None)
_current_span: contextvars.ContextVar[str | None] = contextvars.ContextVar("tracelake_span", default=None)


def new_event_id() -> str:
    """A UUIDv7: globally unique and sortable by creation time."""
    return str(uuid7())


def new_span_id() -> str:
    return os.urandom(8).hex()


def now_ts() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_safe(value: Any) -> Any:
    """Tool arguments and results as JSON: anything orjson cannot encode becomes its ``repr``."""
    try:
        return orjson.loads(orjson.dumps(value, default=repr, option=orjson.OPT_NON_STR_KEYS))
    except (TypeError, orjson.JSONEncodeError):
        return repr(value)


def _error_info(exc: BaseException) -> dict[str, str]:
    return {"type": type(exc).__name__, "message": str(exc)}


class _NullTransport(Transport):
    """No Kafka configured: every send fails, so events stay in the spool."""

    def send(self, records: Sequence[Record]) -> int:
        return 0

    def close(self) -> None:
        pass


class Client:
    """Emits trace events to Kafka through a background sender.

    ``Client(bootstrap="127.0.0.1:9092", workflow="refund_request",
    workflow_version="v3", tenant="acme")``; any argument left out comes from
    ``TRACELAKE_*`` variables (see :class:`SdkConfig`). Use it as a context
    manager or call :meth:`close`; an unclosed client is closed at exit.
    """

    def __init__(
        self,
        bootstrap: str | None = None,
        topic: str | None = None,
        *,
        spool_dir: str | None = None,
        spool_max_bytes: int | None = None,
        spool_fsync: bool | None = None,
        queue_size: int | None = None,
        batch_size: int | None = None,
        send_timeout_s: float | None = None,
        validate: bool | None = None,
        transport: Transport | None = None,
        clock: Callable[[], str] | None = None,
        flags: FlagReader | None = None,
        **defaults: str,
    ) -> None:
        unknown = set(defaults) - set(COMMON_FIELDS)
        if unknown:
            raise TypeError(f"unknown Client argument(s): {', '.join(sorted(unknown))}")
        self.config = SdkConfig.resolve(
            bootstrap=bootstrap,
            topic=topic,
            spool_dir=spool_dir,
            spool_max_bytes=spool_max_bytes,
            spool_fsync=spool_fsync,
            queue_size=queue_size,
            batch_size=batch_size,
            send_timeout_s=send_timeout_s,
            validate=validate,
        )
        self.defaults = {k: v for k, v in defaults.items() if v is not None}
        # Where ``ts`` comes from when an event has none: the wall clock, or a
        # simulated one (fleet simulator, backfills, tests).
        self.now: Callable[[], str] = clock or now_ts
        if transport is None:
            if self.config.bootstrap:
                transport = KafkaTransport(self.config.bootstrap, self.config.topic, self.config.send_timeout_s)
            else:
                log.warning("no Kafka bootstrap configured (TRACELAKE_KAFKA_BOOTSTRAP): events are spooled")
                transport = _NullTransport()
        self._sender = Sender(
            transport,
            SenderOptions(
                spool_root=Path(self.config.spool_dir),
                spool_max_bytes=self.config.spool_max_bytes,
                spool_fsync=self.config.spool_fsync,
                queue_size=self.config.queue_size,
                batch_size=self.config.batch_size,
            ),
        )
        self.invalid = 0
        self._closed = False
        # Workflow flags (docs/flags.md): read from memory, refreshed by the reader's own thread; None: allow all.
        self.flags = flags
        # Closed at interpreter exit (or collection) if the caller forgot.
        self._finalizer = weakref.finalize(self, Sender.close, self._sender)

    # -- core --------------------------------------------------------------
    def emit(self, event: Mapping[str, Any]) -> str:
        """Complete, encode and enqueue one event; return its ``event_id``.

        Never blocks on Kafka and never raises for telemetry reasons. With
        ``validate=True`` an event that breaks the contract is logged with the
        reason and counted in ``invalid`` (it is still sent: the consumer
        dead-letters it with the same reason, so it stays accounted for).
        """
        body = dict(event)
        body.setdefault("schema_version", "1")
        body.setdefault("event_id", new_event_id())
        body.setdefault("ts", self.now())
        for key, default in self.defaults.items():
            body.setdefault(key, default)
        try:
            value = orjson.dumps(body, default=repr)
        except (TypeError, orjson.JSONEncodeError) as exc:
            value = orjson.dumps(_json_safe(body))
            log.debug("event %s needed lossy encoding: %s", body["event_id"], exc)
        if self.config.validate:
            self._check(value)
        self._sender.submit(Record(key=str(body.get("run_id", "")).encode(), value=value))
        return str(body["event_id"])

    def _check(self, value: bytes) -> None:
        from tracelake.contract.validate import Rejection, validate_event

        result = validate_event(value)
        if isinstance(result, Rejection):
            self.invalid += 1
            log.warning("tracelake event breaks the contract: %s", result.reason)

    def run(
        self,
        workflow: str | None = None,
        workflow_version: str | None = None,
        *,
        run_id: str | None = None,
        input: str | None = None,
        initiator: str | None = None,
        guard: bool = False,
        **fields: Any,
    ) -> Run:
        """A run context manager: ``run_started`` on enter, ``run_finished`` on exit.

        ``guard=True`` first asks the workflow's flag (:meth:`admit`): a refused run raises
        :class:`~tracelake.sdk.flags.RunRefused` here, before any event; under ``pin_version`` the run gets the
        pinned version (``run.workflow_version``: what the agent must run).
        """
        if guard:
            admission = self.admit(workflow, workflow_version)
            if not admission.admitted:
                raise RunRefused(admission.flag)
            workflow_version = admission.version
        return Run(
            self,
            run_id=run_id or new_event_id(),
            workflow=workflow,
            workflow_version=workflow_version,
            start_fields={"input": input, "initiator": initiator},
            **fields,
        )

    def flag(self, workflow: str | None = None) -> Flag:
        """The flag of ``workflow`` (default: the client's) from memory; never blocks, never raises.
        ``allow`` when the client has no flag reader."""
        name = workflow or self.defaults.get("workflow") or ""
        return self.flags.flag(name) if self.flags is not None else Flag(name)

    def admit(self, workflow: str | None = None, workflow_version: str | None = None) -> Admission:
        """Whether the flag admits one run of ``workflow`` now, and with which version (docs/flags.md)."""
        name = workflow or self.defaults.get("workflow") or ""
        version = workflow_version or self.defaults.get("workflow_version")
        if self.flags is None:
            return Admission(True, version, Flag(name))
        return self.flags.admit(name, version)

    def guarded(self, body: Callable[[Run], R], workflow: str | None = None, workflow_version: str | None = None,
                *, fallback: Callable[[Flag], R] | None = None, **run_fields: Any) -> R:
        """``body(run)`` inside a guarded :meth:`run`; when the flag refuses the run, ``fallback(flag)`` (the safe
        path: a human queue, a canned answer), or :class:`~tracelake.sdk.flags.RunRefused` without one."""
        try:
            run = self.run(workflow, workflow_version, guard=True, **run_fields)
        except RunRefused as refused:
            if fallback is None:
                raise
            return fallback(refused.flag)
        with run:
            return body(run)

    # ``@client.tool`` and ``@tool`` are the same decorator: the run comes from context.
    tool = staticmethod(lambda *args, **kwargs: tool(*args, **kwargs))

    def stats(self) -> SenderStats:
        """Counters: ``enqueued``, ``sent``, ``spooled``, ``replayed``, ``dropped``,
        ``spool_pending``, ``queue_depth``."""
        return self._sender.stats()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait up to ``timeout`` s until every event so far is acknowledged by
        Kafka. False when some are still queued or spooled (they are not lost)."""
        return self._sender.flush(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Send what can be sent within ``timeout``, spool the rest, stop."""
        if self._closed:
            return
        self._closed = True
        self._finalizer.detach()
        self._sender.close(timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Span:
    """Fields of one timed step; ``update`` adds fields before it is emitted."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def update(self, **fields: Any) -> None:
        self.fields.update(fields)


class Run:
    """One agent run. Helpers exist for every event type of the contract.

    The run's outcome is, in order: what :meth:`finish` or ``run.outcome = …``
    set; ``failure`` if the block raised; ``halted`` / ``fallback`` /
    ``escalated`` if the run emitted a budget halt, fallback or escalation;
    else ``success``.
    """

    def __init__(
        self,
        client: Client,
        run_id: str,
        workflow: str | None,
        workflow_version: str | None,
        start_fields: dict[str, Any],
        **fields: Any,
    ) -> None:
        self.client = client
        self.run_id = run_id
        self.common = {k: v for k, v in fields.items() if v is not None}
        if workflow:
            self.common["workflow"] = workflow
        if workflow_version:
            self.common["workflow_version"] = workflow_version
        self.outcome: str | None = None
        self.output: str | None = None
        self.outcome_reason: str | None = None
        self._start_fields = {k: v for k, v in start_fields.items() if v is not None}
        self._root_span = new_span_id()
        self._implied: str | None = None
        self._finished = False
        self._tokens: list[contextvars.Token[Any]] = []

    @property
    def workflow_version(self) -> str | None:
        """The version this run runs (a guarded run under ``pin_version``: the pinned one)."""
        return self.common.get("workflow_version") or self.client.defaults.get("workflow_version")

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self) -> Run:
        self.event("run_started", span_id=self._root_span, parent_span_id=None, **self._start_fields)
        self._tokens = [_current_run.set(self), _current_span.set(self._root_span)]
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        for token in reversed(self._tokens):
            token.var.reset(token)
        if self._finished:
            return
        if exc is not None and self.outcome is None:
            self._finish("failure", status="error", error=_error_info(exc))
        else:
            self._finish(self.outcome or self._implied or "success")

    def finish(self, outcome: str, output: str | None = None, outcome_reason: str | None = None) -> None:
        """End the run now with this outcome (the block's exit then adds nothing)."""
        self.output = output if output is not None else self.output
        self.outcome_reason = outcome_reason if outcome_reason is not None else self.outcome_reason
        self._finish(outcome)

    def _finish(self, outcome: str, **extra: Any) -> None:
        self._finished = True
        self.event(
            "run_finished",
            span_id=new_span_id(),
            parent_span_id=self._root_span,
            outcome=outcome,
            output=self.output,
            outcome_reason=self.outcome_reason,
            **extra,
        )

    # -- events ------------------------------------------------------------
    def event(self, event_type: str, **fields: Any) -> str:
        """Emit any event of this run; returns its ``event_id``."""
        body: dict[str, Any] = {"event_type": event_type, "run_id": self.run_id, **self.common}
        body.setdefault("span_id", new_span_id())
        if "parent_span_id" not in fields:
            body["parent_span_id"] = _current_span.get() or self._root_span
        body.update(fields)
        return self.client.emit({k: v for k, v in body.items() if v is not None})

    @contextmanager
    def span(self, event_type: str, **fields: Any) -> Iterator[Span]:
        """Time a step: emits ``event_type`` with ``duration_ms`` when the block
        ends; on an exception adds ``status=error`` and ``error`` and re-raises.
        Events emitted inside the block get this step as parent."""
        span_id = new_span_id()
        step = Span({"span_id": span_id, "ts": self.client.now(), **fields})
        token = _current_span.set(span_id)
        started = time.perf_counter()
        try:
            yield step
        except BaseException as exc:
            step.fields.setdefault("status", "error")
            step.fields.setdefault("error", _error_info(exc))
            raise
        finally:
            _current_span.reset(token)
            step.fields["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
            step.fields.setdefault("parent_span_id", _current_span.get() or self._root_span)
            self.event(event_type, **step.fields)

    def llm_call(self, model: str, **fields: Any) -> str:
        return self.event("llm_call", model=model, **fields)

    def tool_call(self, tool_name: str, **fields: Any) -> str:
        return self.event("tool_call", tool_name=tool_name, **fields)

    def retrieval(
        self, query: str | None = None, references: list[dict[str, Any]] | None = None, **fields: Any
    ) -> str:
        return self.event("retrieval", query=query, references=references, **fields)

    def policy_decision(
        self, action: str, risk_tier: str, decision: str, rule: str | None = None, **fields: Any
    ) -> str:
        return self.event(
            "policy_decision", action=action, risk_tier=risk_tier, decision=decision, rule=rule, **fields
        )

    def approval(
        self, action: str, decision: str, approver: str | None = None, wait_ms: float | None = None, **fields: Any
    ) -> str:
        return self.event("approval", action=action, decision=decision, approver=approver, wait_ms=wait_ms, **fields)

    def escalation(
        self, reason: str, detail: str | None = None, trigger_event_id: str | None = None, **fields: Any
    ) -> str:
        self._implied = self._implied or "escalated"
        return self.event("escalation", reason=reason, detail=detail, trigger_event_id=trigger_event_id, **fields)

    def fallback(
        self, reason: str, detail: str | None = None, trigger_event_id: str | None = None, **fields: Any
    ) -> str:
        self._implied = self._implied or "fallback"
        return self.event("fallback", reason=reason, detail=detail, trigger_event_id=trigger_event_id, **fields)

    def postcondition_check(self, check: str, passed: bool, detail: str | None = None, **fields: Any) -> str:
        return self.event("postcondition_check", check=check, passed=passed, detail=detail, **fields)

    def budget_exceeded(
        self, budget: str, limit: float | None = None, used: float | None = None, **fields: Any
    ) -> str:
        self._implied = "halted"
        return self.event("budget_exceeded", budget=budget, limit=limit, used=used, **fields)

    def custom(self, name: str, **fields: Any) -> str:
        return self.event("custom", name=name, **fields)


def current_run() -> Run | None:
    """The run whose block is executing in this context, if any."""
    return _current_run.get()


def tool(
    name: str | Callable[..., Any] | None = None,
    *,
    validator: Callable[[dict[str, Any]], Any] | None = None,
    result_check: Callable[[Any], Any] | None = None,
    mutating: bool | None = None,
) -> Any:
    """Decorate a tool so each call inside a run emits a ``tool_call``.

    Records ``tool_args`` (bound by name), ``tool_result``, ``duration_ms``,
    ``schema_valid`` (``validator(args)`` is truthy and does not raise; absent
    without a validator), ``success`` (no exception and ``result_check(result)``
    truthy when given) and, on an exception, ``status=error`` with ``error``;
    the exception is re-raised. Outside a run the tool just runs. Works on
    ``async def`` tools too. Usable as ``@tool`` or ``@tool("name", ...)``.
    """
    if callable(name):
        return tool()(name)

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        tool_name = name or fn.__name__
        signature = inspect.signature(fn)

        def before(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
            try:
                bound = signature.bind(*args, **kwargs)
                arguments = dict(bound.arguments)
            except TypeError:
                arguments = {"args": list(args), **kwargs}
            run = current_run()
            fields: dict[str, Any] = {"tool_args": _json_safe(arguments), "ts": run.client.now() if run else now_ts()}
            if mutating is not None:
                fields["mutating"] = mutating
            if validator is not None:
                try:
                    fields["schema_valid"] = bool(validator(arguments))
                except Exception:  # noqa: BLE001 - a failing validator means invalid args
                    fields["schema_valid"] = False
            return fields

        def after(run: Run, fields: dict[str, Any], started: float, result: Any, exc: BaseException | None) -> None:
            fields["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
            if exc is not None:
                fields.update(success=False, status="error", error=_error_info(exc))
            else:
                fields["tool_result"] = _json_safe(result)
                ok = True
                if result_check is not None:
                    try:
                        ok = bool(result_check(result))
                    except Exception:  # noqa: BLE001
                        ok = False
                fields["success"] = ok
            try:
                run.tool_call(tool_name, **fields)
            except Exception:
                log.exception("could not record tool call %s", tool_name)

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
                run = current_run()
                if run is None:
                    return await fn(*args, **kwargs)
                fields = before(args, kwargs)
                started = time.perf_counter()
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    after(run, fields, started, None, exc)
                    raise
                after(run, fields, started, result, None)
                return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            run = current_run()
            if run is None:
                return fn(*args, **kwargs)
            fields = before(args, kwargs)
            started = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                after(run, fields, started, None, exc)
                raise
            after(run, fields, started, result, None)
            return result

        return wrapper

    return decorate
