"""Prometheus metrics: counters and histograms fed by attempt events and request facts.

Series (docs/observability.md lists them with their labels):

- ``imagegate_requests_total{model,team,outcome}``: image requests answered, by outcome (``ok`` or an
  error code);
- ``imagegate_images_total{model,route,team}`` and ``imagegate_cost_microusd_total{model,route,team}``:
  images produced and integer micro-dollars spent, from every recorded attempt;
- ``imagegate_attempts_total{model,route,outcome,error_code}``: provider attempts;
- ``imagegate_provider_latency_seconds{model,route}``: each attempt's provider call;
- ``imagegate_added_latency_seconds{model}``: a request's wall time minus the time its provider calls
  took (parsing, auth, routing, pricing, rendering, and any backoff between retries);
- ``imagegate_route_breaker_state``, ``imagegate_route_status``, ``imagegate_route_enabled``: route
  state read at scrape time (``telemetry/route_state.py``);
- ``imagegate_budget_remaining_microusd``, ``imagegate_images_remaining``, ``imagegate_jobs``: budgets,
  quotas and jobs read from the database at scrape time (``telemetry/store_state.py``).

With ``PROMETHEUS_MULTIPROC_DIR`` set (``imagegate serve --workers N`` sets it), each worker writes
its values to files there and a scrape of any worker sums them all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from imagegate.accounting.ports import LedgerEntry
from imagegate.service.request_facts import RequestFacts, current_facts
from imagegate.telemetry.labels import LabelSets
from imagegate.telemetry.route_state import BREAKER_STATES, ROUTE_STATUSES, RouteGauge

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
M = TypeVar("M", bound=MetricWrapperBase)

# Provider calls for images take seconds to minutes; the gateway's own time should be milliseconds.
PROVIDER_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0)
ADDED_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def multiprocess_dir() -> str | None:
    """The multiprocess directory in force in this process, or None (single-process values)."""
    path = os.environ.get(MULTIPROC_ENV)
    return path if path is not None and path != "" else None


class GatewayMetrics:
    """The gateway's metrics in a registry of their own (never the global one)."""

    def __init__(self, labels: LabelSets) -> None:
        self.labels = labels
        self.registry = CollectorRegistry()
        self._children: dict[tuple[object, ...], object] = {}
        self.requests = Counter(
            "imagegate_requests",
            "Image requests answered, by model, team and outcome (ok or the error code).",
            ("model", "team", "outcome"),
            registry=self.registry,
        )
        self.images = Counter(
            "imagegate_images",
            "Images produced, by model, route and team.",
            ("model", "route", "team"),
            registry=self.registry,
        )
        self.cost = Counter(
            "imagegate_cost_microusd",
            "Cost of every recorded attempt in integer micro-dollars (estimated costs included).",
            ("model", "route", "team"),
            registry=self.registry,
        )
        self.attempts = Counter(
            "imagegate_attempts",
            "Provider attempts, by model, route, outcome (ok, error, unknown) and error code.",
            ("model", "route", "outcome", "error_code"),
            registry=self.registry,
        )
        self.provider_latency = Histogram(
            "imagegate_provider_latency_seconds",
            "Duration of each provider attempt.",
            ("model", "route"),
            buckets=PROVIDER_BUCKETS,
            registry=self.registry,
        )
        self.added_latency = Histogram(
            "imagegate_added_latency_seconds",
            "A request's wall time minus its provider calls' time: what the gateway added.",
            ("model",),
            buckets=ADDED_BUCKETS,
            registry=self.registry,
        )

    def _series(self, metric: M, *values: str) -> M:
        """``metric.labels(*values)``, kept: ``labels`` validates, locks and looks up on every call,
        and every request calls it several times. Bounded like the label values (``LabelSets``)."""
        key = (id(metric), *values)
        series = self._children.get(key)
        if series is None:
            series = self._children[key] = metric.labels(*values)
        return cast(M, series)

    def observe_attempt(self, entry: LedgerEntry) -> None:
        """Count one recorded attempt (an ``AttemptObserver``); the team is its request's."""
        labels = self.labels
        facts = current_facts()
        team = labels.team(None if facts is None else facts.team)
        model, route = labels.model(entry.model), labels.route(entry.route)
        self._series(self.attempts, model, route, entry.status, labels.error_code(entry.error_code)).inc()
        if entry.images > 0:
            self._series(self.images, model, route, team).inc(entry.images)
        if entry.cost_micros > 0:
            self._series(self.cost, model, route, team).inc(entry.cost_micros)
        self._series(self.provider_latency, model, route).observe(entry.latency_ms / 1000)

    def observe_request(self, facts: RequestFacts, status: int, seconds: float) -> None:
        """Count one answered image request; its added latency when it reached a provider."""
        labels = self.labels
        model = labels.model(facts.model)
        self._series(self.requests, model, labels.team(facts.team), self.outcome(facts, status)).inc()
        if facts.attempts:
            self._series(self.added_latency, model).observe(max(0.0, seconds - facts.provider_seconds()))

    def outcome(self, facts: RequestFacts, status: int) -> str:
        """``ok``, or the code of the error answered (or of the last attempt, for an error answered
        as a 200 or inside a stream), or ``http_error`` for an error without a code."""
        if facts.error_code is not None:
            return self.labels.error_code(facts.error_code)
        last = facts.last_attempt()
        if last is not None and last.status != "ok":
            return self.labels.error_code(last.error_code if last.error_code is not None else "internal_error")
        return "ok" if status < 400 else "http_error"

    def exposition(self, routes: Sequence[RouteGauge], live: Sequence[Collector] = ()) -> bytes:
        """The text exposition: counters (summed over workers in multiprocess mode), route gauges
        and the ``live`` collectors (gauges read from shared stores at scrape time)."""
        path = multiprocess_dir()
        if path is None:
            counted = generate_latest(self.registry)
        else:
            merged = CollectorRegistry()
            MultiProcessCollector(merged, path)  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated
            counted = generate_latest(merged)
        read_now = CollectorRegistry()
        read_now.register(_RouteCollector(routes))
        for collector in live:
            read_now.register(collector)
        return counted + generate_latest(read_now)


class _RouteCollector(Collector):
    """Route gauges from one reading (``RouteStateReader.read``)."""

    def __init__(self, routes: Iterable[RouteGauge]) -> None:
        self._routes = list(routes)

    def collect(self) -> Iterator[Metric]:
        breaker = GaugeMetricFamily(
            "imagegate_route_breaker_state",
            "1 for the state each route's circuit breaker is in (closed, open, half_open).",
            labels=("route", "state"),
        )
        status = GaugeMetricFamily(
            "imagegate_route_status",
            "1 for each route's effective status (smoke checks, live traffic, lifecycle).",
            labels=("route", "status"),
        )
        enabled = GaugeMetricFamily(
            "imagegate_route_enabled", "1 when a route takes traffic (config and live controls).", labels=("route",)
        )
        for gauge in self._routes:
            if gauge.breaker is not None:
                for state in BREAKER_STATES:
                    breaker.add_metric((gauge.route, state), 1.0 if state == gauge.breaker else 0.0)
            if gauge.status is not None:
                for value in ROUTE_STATUSES:
                    status.add_metric((gauge.route, value), 1.0 if value == gauge.status else 0.0)
            enabled.add_metric((gauge.route,), 1.0 if gauge.enabled else 0.0)
        yield breaker
        yield status
        yield enabled
