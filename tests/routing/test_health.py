from datetime import UTC, datetime

from imagegate.routing.health import RouteHealth


def test_latency_quantiles_and_error_rate():
    health = RouteHealth(min_calls=5)
    for latency in (100, 200, 300, 400, 1000):
        health.observe("r", success=True, latency_ms=latency)
    health.observe("r", success=False, latency_ms=5)
    stats = health.stats("r")
    assert (stats.calls, stats.p50_ms, stats.p95_ms) == (6, 300, 1000)
    assert abs(stats.error_rate - 1 / 6) < 1e-9 and stats.status == "available"


def test_status_degrades_with_errors_and_smoke_verdicts_stick():
    health = RouteHealth(min_calls=4, degraded_error_rate=0.5)
    assert health.stats("r").status == "unknown"
    for success in (True, False, False, True):
        health.observe("r", success=success, latency_ms=10)
    assert health.stats("r").status == "degraded"
    at = datetime(2026, 11, 21, tzinfo=UTC)
    health.mark_checked("x", "unsupported", at)
    for _ in range(5):
        health.observe("x", success=True, latency_ms=10)
    assert health.stats("x").status == "unsupported" and health.stats("x").last_checked_at == at
