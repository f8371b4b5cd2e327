"""Recent latency and error rate per route, and the route status derived from them.

Statuses (also set by smoke tests and the operator):
- ``available``: recent calls succeed;
- ``degraded``: recent calls fail often (error rate at or above ``degraded_error_rate``);
- ``unknown_failure``: the last smoke test failed for a reason other than the ones below;
- ``unsupported``: the provider refuses this model for this account (403/404 from the provider);
- ``retired``: past the model's shutdown date.
Only provider-side failures count as errors here: a caller's invalid request says nothing about
the route.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

RouteStatus = Literal["available", "degraded", "unknown_failure", "unsupported", "retired", "unknown"]


@dataclass(frozen=True, slots=True)
class RouteStats:
    """A snapshot of one route's recent behaviour."""

    calls: int
    error_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    status: RouteStatus
    last_checked_at: datetime | None


def _quantile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


class RouteHealth:
    """Rolling per-route outcome windows (in-process; each replica keeps its own view)."""

    def __init__(self, *, window: int = 200, degraded_error_rate: float = 0.5, min_calls: int = 5) -> None:
        self._window = window
        self._degraded = degraded_error_rate
        self._min_calls = min_calls
        self._outcomes: dict[str, deque[tuple[bool, float]]] = {}
        self._checked: dict[str, tuple[RouteStatus, datetime]] = {}
        self._lock = threading.Lock()

    def observe(self, route: str, *, success: bool, latency_ms: float) -> None:
        """Record one call's outcome (successful latencies feed p50/p95)."""
        with self._lock:
            self._outcomes.setdefault(route, deque(maxlen=self._window)).append((success, latency_ms))

    def mark_checked(self, route: str, status: RouteStatus, at: datetime) -> None:
        """Record a smoke test's verdict for the route."""
        with self._lock:
            self._checked[route] = (status, at)

    def stats(self, route: str) -> RouteStats:
        """The route's recent figures and status."""
        with self._lock:
            outcomes = list(self._outcomes.get(route, ()))
            checked = self._checked.get(route)
        latencies = sorted(latency for success, latency in outcomes if success)
        failures = sum(1 for success, _ in outcomes if not success)
        error_rate = None if not outcomes else failures / len(outcomes)
        status: RouteStatus = "unknown"
        if checked is not None:
            status = checked[0]
        if len(outcomes) >= self._min_calls and status in ("unknown", "available", "degraded"):
            status = "degraded" if error_rate is not None and error_rate >= self._degraded else "available"
        return RouteStats(
            calls=len(outcomes),
            error_rate=error_rate,
            p50_ms=None if not latencies else _quantile(latencies, 0.5),
            p95_ms=None if not latencies else _quantile(latencies, 0.95),
            status=status,
            last_checked_at=None if checked is None else checked[1],
        )
