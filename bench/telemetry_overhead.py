"""What metrics cost per request, in-process: the request's fact scope, the attempt observers and the
request observation (what ``TelemetryMiddleware`` and ``ImageService`` add to one image call), and
the time one ``/metrics`` exposition takes.

    python bench/telemetry_overhead.py [--requests 20000]

The end-to-end comparison is ``bench/gateway_overhead.py`` run with ``IMAGEGATE_METRICS=off`` and
without; on a shared 2-core machine its noise (milliseconds) hides these microseconds.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from imagegate.accounting.ports import LedgerEntry
from imagegate.providers.base import RouteTarget
from imagegate.providers.registry import builtin_registry
from imagegate.routing.table import ModelAlias, RouteTable
from imagegate.service.request_facts import note_request, note_team, request_scope
from imagegate.telemetry.route_state import RouteGauge
from imagegate.telemetry.wiring import build_telemetry

ROUTE = "gpt-image-2/openai/gpt-image-2"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    target = RouteTarget(ROUTE, "gpt-image-2", "openai", "gpt-image-2", "http://127.0.0.1:9", "sk-bench")
    table = RouteTable([ModelAlias(name="gpt-image-2", routes=(target,))])
    telemetry = build_telemetry(table, metrics_mode="open", traces="off", registry=builtin_registry())
    metrics = telemetry.metrics
    assert metrics is not None
    observers = telemetry.observers()
    entry = LedgerEntry(
        request_id="req_bench",
        attempt=1,
        model="gpt-image-2",
        provider="openai",
        provider_model="gpt-image-2",
        route=ROUTE,
        operation="generate",
        dialect="openai-images",
        status="ok",
        created_at=datetime.now(UTC),
        images=1,
        cost_micros=11_000,
        latency_ms=200,
    )
    started = time.perf_counter()
    for _ in range(args.requests):
        with request_scope() as facts:
            note_team(None)
            note_request("req_bench", "gpt-image-2")
            for observer in observers:
                observer(entry)
        metrics.observe_request(facts, 200, 0.21)
    per_request = (time.perf_counter() - started) / args.requests
    gauges = [RouteGauge(ROUTE, "gpt-image-2", "openai", True, "closed", "available")]
    started = time.perf_counter()
    for _ in range(200):
        metrics.exposition(gauges)
    per_scrape = (time.perf_counter() - started) / 200
    print(f"metrics per image request: {per_request * 1e6:.1f} µs (scope, notes, attempt observers, request)")
    print(f"one /metrics exposition (1 route): {per_scrape * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
