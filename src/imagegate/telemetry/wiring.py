"""What ``app.py`` wires for observability: metrics, the tracer, their observers and middleware."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.middleware import Middleware
from starlette.types import Scope

from imagegate.accounting.ports import LedgerEntry
from imagegate.providers.registry import AdapterRegistry
from imagegate.routing.table import RouteTable
from imagegate.service.attempts import AttemptObserver
from imagegate.service.request_facts import note_attempt
from imagegate.telemetry.labels import LabelSets
from imagegate.telemetry.metrics import GatewayMetrics
from imagegate.telemetry.middleware import RequestTracer, TelemetryMiddleware
from imagegate.telemetry.route_state import RouteStateReader
from imagegate.telemetry.store_state import StoreStateReader

log = logging.getLogger("imagegate.telemetry")

MetricsMode = Literal["open", "key", "off"]


@dataclass
class Telemetry:
    """The gateway's observability parts; ``metrics`` is None when ``IMAGEGATE_METRICS=off``,
    ``tracer`` None unless traces are on. ``route_state`` is set once routing is built,
    ``store_state`` once budgets and jobs are."""

    mode: MetricsMode
    metrics: GatewayMetrics | None
    tracer: RequestTracer | None = None
    attempt_observers: list[AttemptObserver] = field(default_factory=list)
    route_state: RouteStateReader | None = None
    store_state: StoreStateReader | None = None
    # The OTLP provider built here (flushed and shut down with the app); a provider passed in is its owner's.
    owned_provider: Any = None

    def close(self) -> None:
        """Export the spans still queued and stop the exporter this telemetry created."""
        if self.owned_provider is not None:
            self.owned_provider.shutdown()

    def observers(self) -> list[AttemptObserver]:
        """The attempt observers to hand ``ImageService``: request facts first, then reporters."""
        if self.metrics is None and self.tracer is None:
            return []
        return [note_attempt, *self.attempt_observers]

    def recorded_by(self, record: AttemptObserver) -> AttemptObserver:
        """``record`` (a writer of ledger rows made outside ``ImageService``, e.g. smoke checks),
        then the attempt observers, so those attempts are counted and traced too."""
        observers = self.observers()
        if not observers:
            return record

        def record_and_observe(entry: LedgerEntry) -> None:
            record(entry)
            for observer in observers:
                try:
                    observer(entry)
                except Exception:
                    log.exception("attempt observer %r failed on %s", observer, entry.request_id)

        return record_and_observe

    def middleware(self, selects: Callable[[Scope], bool]) -> Middleware | None:
        """The request-level hook, or None when nothing reports requests."""
        if self.metrics is None and self.tracer is None:
            return None
        return Middleware(TelemetryMiddleware, selects=selects, metrics=self.metrics, tracer=self.tracer)


def build_telemetry(
    routes: RouteTable,
    *,
    metrics_mode: MetricsMode,
    traces: Literal["off", "otlp"],
    registry: AdapterRegistry,
    tracer_provider: Any = None,
) -> Telemetry:
    """Metrics unless off; traces when ``traces`` is ``otlp`` or a ``tracer_provider`` is given
    (tests pass an SDK provider with an in-memory exporter).

    ``registry`` tells the tracer each provider's ``gen_ai.provider.name`` and token counts.
    """
    metrics = None
    observers: list[AttemptObserver] = []
    if metrics_mode != "off":
        names = [target.name for alias in routes.aliases() for target in alias.routes]
        metrics = GatewayMetrics(LabelSets(models=[alias.name for alias in routes.aliases()], routes=names))
        observers.append(metrics.observe_attempt)
    tracer = None
    owned = None
    if traces == "otlp" or tracer_provider is not None:
        try:
            # Imported only here: the OpenTelemetry packages are the optional `otel` extra.
            from imagegate.telemetry.tracing import GatewayTracer, otlp_tracer_provider
        except ImportError as exc:
            raise RuntimeError("IMAGEGATE_TRACES=otlp needs the otel extra: pip install 'imagegate[otel]'") from exc

        provider = tracer_provider
        if provider is None:
            provider = owned = otlp_tracer_provider()
        gateway_tracer = GatewayTracer(provider, registry)
        observers.append(gateway_tracer.observe_attempt)
        tracer = gateway_tracer
    return Telemetry(
        mode=metrics_mode, metrics=metrics, tracer=tracer, attempt_observers=observers, owned_provider=owned
    )
