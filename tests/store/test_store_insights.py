"""``SqlLedgerInsights`` on both backends: outcomes, nearest-rank percentiles, UTC time buckets,
top errors and the explorer's exact filters."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy.engine import Connection

from imagegate.accounting.insights import LedgerSearch
from imagegate.accounting.ports import LedgerEntry
from imagegate.store import SqlLedgerStore
from imagegate.store.insights import SqlLedgerInsights

T0 = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)
BASE = LedgerEntry(
    request_id="r1",
    attempt=1,
    model="m-a",
    provider="openai",
    provider_model="gpt-image-2",
    route="m-a/openai/gpt-image-2",
    operation="generate",
    dialect="openai",
    status="ok",
    created_at=T0,
    key_name="k1",
    images=1,
    cost_micros=1_000,
    latency_ms=100,
)


def _rows() -> list[LedgerEntry]:
    rows = [
        replace(BASE, request_id=f"ok-{n}", latency_ms=latency, created_at=T0 + timedelta(minutes=n))
        for n, latency in enumerate((10, 20, 30, 40, 50, 60, 70, 80, 90, 100))
    ]
    # A request that failed over: one error attempt then success on another route, an hour later.
    later = T0 + timedelta(hours=1, minutes=5)
    rows.append(
        replace(
            BASE,
            request_id="retry",
            attempt=1,
            status="error",
            error_code="upstream_unavailable",
            images=0,
            cost_micros=0,
            created_at=later,
        )
    )
    rows.append(
        replace(
            BASE,
            request_id="retry",
            attempt=2,
            route="m-a/openai/gpt-image-1.5",
            model="m-a",
            latency_ms=5_000,
            created_at=later + timedelta(seconds=1),
        )
    )
    # A request that only failed, on another model and key, written with a non-UTC offset.
    other_zone = timezone(timedelta(hours=-5))
    rows.append(
        replace(
            BASE,
            request_id="bad",
            model="m-b",
            key_name="k2",
            team="design",
            status="error",
            error_code="rate_limited",
            images=0,
            cost_micros=7,
            created_at=(later + timedelta(minutes=1)).astimezone(other_zone),
        )
    )
    return rows


def _insights(conn: Connection) -> SqlLedgerInsights:
    SqlLedgerStore(conn).append_entries(_rows())
    return SqlLedgerInsights(conn)


def test_outcomes_count_requests_with_a_successful_attempt(conn: Connection) -> None:
    insights = _insights(conn)
    outcomes = insights.outcomes(None, None)
    assert (outcomes.requests, outcomes.succeeded) == (12, 11)
    assert outcomes.success_rate_bp == 9166
    assert insights.outcomes(T0 + timedelta(hours=1), None).requests == 2


def test_percentiles_are_nearest_rank_over_successful_attempts(conn: Connection) -> None:
    insights = _insights(conn)
    # 11 successful latencies: 10..100 and 5000.
    assert insights.latency_percentiles(None, None, (0.5, 0.95, 1.0)) == [60, 5_000, 5_000]
    assert insights.latency_percentiles(None, T0 + timedelta(hours=1), (0.5, 0.95)) == [50, 100]
    assert insights.latency_percentiles(T0 + timedelta(days=9), None, (0.5,)) == [None]


def test_series_buckets_by_utc_hour_and_day(conn: Connection) -> None:
    insights = _insights(conn)
    hourly = insights.series(T0 - timedelta(hours=1), None, "hour")
    assert [(p.bucket, p.model, p.route, p.spend_micros, p.images, p.attempts) for p in hourly] == [
        ("2026-03-01T22:00", "m-a", "m-a/openai/gpt-image-2", 10_000, 10, 10),
        ("2026-03-01T23:00", "m-a", "m-a/openai/gpt-image-1.5", 1_000, 1, 1),
        ("2026-03-01T23:00", "m-a", "m-a/openai/gpt-image-2", 0, 0, 1),
        ("2026-03-01T23:00", "m-b", "m-a/openai/gpt-image-2", 7, 0, 1),
    ]
    assert [p.team for p in hourly] == [None, None, None, "design"]
    daily = insights.series(T0 - timedelta(days=1), T0 + timedelta(hours=1), "day")
    assert [(p.bucket, p.model, p.attempts) for p in daily] == [("2026-03-01", "m-a", 10)]


def test_top_errors_most_frequent_first(conn: Connection) -> None:
    insights = _insights(conn)
    errors = insights.top_errors(None, None, 5)
    assert [(e.error_code, e.count) for e in errors] == [("rate_limited", 1), ("upstream_unavailable", 1)]
    assert errors[0].last_seen == T0 + timedelta(hours=1, minutes=6)
    assert errors[0].last_seen.tzinfo is not None


def test_search_filters_are_exact_and_combine(conn: Connection) -> None:
    insights = _insights(conn)
    assert [(e.request_id, e.attempt) for e in insights.search(LedgerSearch(request_id="retry"), 10)] == [
        ("retry", 2),
        ("retry", 1),
    ]
    assert [e.request_id for e in insights.search(LedgerSearch(status="error", key_name="k2"), 10)] == ["bad"]
    assert len(insights.search(LedgerSearch(route="m-a/openai/gpt-image-2", status="ok"), 100)) == 10
    assert insights.search(LedgerSearch(model="m-"), 10) == []
    assert [e.request_id for e in insights.search(LedgerSearch(error_code="rate_limited"), 10)] == ["bad"]
    assert [e.request_id for e in insights.search(LedgerSearch(team="design"), 10)] == ["bad"]
    assert insights.search(LedgerSearch(team="design", status="ok"), 10) == []
    window = LedgerSearch(since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=4))
    assert [e.request_id for e in insights.search(window, 10)] == ["ok-3", "ok-2"]
    assert len(insights.search(LedgerSearch(), 3)) == 3
