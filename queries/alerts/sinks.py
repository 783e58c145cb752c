"""Where new alerts are announced: a Slack-compatible webhook (JSON on stdout is the CLI's ``emit``).

Contract of :func:`post_webhook`:

- Payload ``{"text": "..."}`` (Slack incoming webhooks, Mattermost, Teams
  connectors and most chat tools accept it), one message per chunk of
  ``chunk`` alerts.
- Each POST has a timeout; a failure (connection error, timeout, 429 or 5xx)
  is retried ``retries`` times with exponential backoff (``backoff_s``,
  ×2 each time). Other 4xx are not retried: the request itself is wrong.
- It never raises for delivery problems: failures are logged, counted in
  :data:`COUNTERS` and returned in the :class:`Delivery`. The alerts are
  already in the lake's table before any sink runs, so nothing is lost.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from tracelake.queries.timewin import format_time

log = logging.getLogger("tracelake.alerts")

WEBHOOK_SENT = "tracelake_alerts_webhook_messages_sent_total"
WEBHOOK_FAILED = "tracelake_alerts_webhook_messages_failed_total"
WEBHOOK_RETRIES = "tracelake_alerts_webhook_retries_total"


class _Counters:
    """Process-wide delivery counters (the API's /metrics can export them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: Counter[str] = Counter()

    def inc(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._values[name] += amount

    def get(self, name: str) -> int:
        with self._lock:
            return self._values[name]


COUNTERS = _Counters()


@dataclass(frozen=True)
class Delivery:
    messages_sent: int
    messages_failed: int
    attempts: int
    errors: tuple[str, ...]


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def alert_text(alert: dict[str, Any]) -> str:
    """One line per alert, readable in a chat client."""
    group = ", ".join(f"{k}={v}" for k, v in sorted(alert["group"].items()))
    p = f", p={alert['p_value']:.2g}" if alert.get("p_value") is not None else ""
    return (f"[{alert['severity']}] {alert['rule']} ({group}): {alert['metric']} "
            f"{_fmt(alert['baseline_value'])} → {_fmt(alert['current_value'])}{p}, "
            f"n={alert['n_baseline']}/{alert['n_current']}, window ending {format_time(alert['window_end'])}")


def payloads(alerts: Sequence[dict[str, Any]], chunk: int = 20) -> list[bytes]:
    """Slack-compatible ``{"text": …}`` bodies, ``chunk`` alerts per message."""
    out = []
    for start in range(0, len(alerts), chunk):
        part = alerts[start:start + chunk]
        head = f"tracelake: {len(alerts)} new drift alert(s)" + (f" ({start + 1}–{start + len(part)})"
                                                                   if len(alerts) > chunk else "")
        out.append(orjson.dumps({"text": "\n".join([head, *(alert_text(a) for a in part)])}))
    return out


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code == 429 or exc.code >= 500
    return True  # connection refused, DNS, timeout: worth another try


def post_webhook(url: str, alerts: Sequence[dict[str, Any]], *, timeout_s: float = 5.0, retries: int = 3,
                 backoff_s: float = 0.5, sleep: Callable[[float], None] = time.sleep) -> Delivery:
    """POST the alerts to ``url``; see the module docstring. ``sleep`` is injectable for tests."""
    sent = failed = attempts = 0
    errors: list[str] = []
    for body in payloads(alerts):
        for attempt in range(retries + 1):
            attempts += 1
            request = urllib.request.Request(url, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=timeout_s) as response:
                    response.read()
                sent += 1
                COUNTERS.inc(WEBHOOK_SENT)
                break
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = f"{type(exc).__name__}: {getattr(exc, 'reason', None) or exc}"
                if attempt < retries and _retryable(exc):
                    COUNTERS.inc(WEBHOOK_RETRIES)
                    log.warning("alert webhook attempt %d failed (%s); retrying", attempt + 1, reason)
                    sleep(backoff_s * (2 ** attempt))
                    continue
                failed += 1
                errors.append(reason)
                COUNTERS.inc(WEBHOOK_FAILED)
                log.error("alert webhook delivery failed after %d attempt(s): %s (alerts stay in the alerts table)",
                          attempt + 1, reason)
                break
    return Delivery(sent, failed, attempts, tuple(errors))
