"""The overview's pure parts: UTC day and month starts, and chart data from ledger series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from imagegate.accounting.insights import SeriesPoint
from imagegate.service.overview import NO_TEAM, chart_data, day_start, month_start


def test_days_and_months_start_at_utc_midnight():
    late_evening_in_new_york = datetime(2026, 3, 31, 21, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert day_start(late_evening_in_new_york) == datetime(2026, 4, 1, tzinfo=UTC)
    assert month_start(late_evening_in_new_york) == datetime(2026, 4, 1, tzinfo=UTC)
    assert month_start(datetime(2026, 4, 17, 9, 30, tzinfo=UTC)) == datetime(2026, 4, 1, tzinfo=UTC)


def test_chart_data_stacks_each_group_over_every_bucket():
    points = [
        SeriesPoint("2026-03-01", "m-a", "m-a/r1", spend_micros=5, images=1, attempts=1),
        SeriesPoint("2026-03-01", "m-a", "m-a/r2", spend_micros=7, images=2, attempts=2, team="design"),
        SeriesPoint("2026-03-03", "m-b", "m-b/r1", spend_micros=11, images=0, attempts=1, team="design"),
    ]
    assert chart_data(points, "model") == {
        "labels": ["2026-03-01", "2026-03-03"],
        "datasets": [
            {"label": "m-a", "spend_micros": [12, 0], "images": [3, 0]},
            {"label": "m-b", "spend_micros": [0, 11], "images": [0, 0]},
        ],
    }
    by_route = chart_data(points, "route")
    assert [d["label"] for d in by_route["datasets"]] == ["m-a/r1", "m-a/r2", "m-b/r1"]
    assert chart_data(points, "team")["datasets"] == [
        {"label": NO_TEAM, "spend_micros": [5, 0], "images": [1, 0]},
        {"label": "design", "spend_micros": [7, 11], "images": [2, 0]},
    ]
    assert chart_data([], "route") == {"labels": [], "datasets": []}
