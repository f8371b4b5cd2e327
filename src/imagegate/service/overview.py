"""The operator's overview: spend today and this month, images, success rate, latency, cost per
accepted image, spend over time by model and route, and the most frequent errors.

Spend and image figures come from the same ``build_report`` as ``imagegate report`` and
``/api/report`` (so the console and the report never disagree); success, latency, time series and
errors from ``LedgerInsights``. Days and months are UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from imagegate.accounting.insights import Bucket, ErrorCount, LedgerInsights, Outcomes, SeriesDimension, SeriesPoint
from imagegate.accounting.reports import ReportGroup, ReportStore
from imagegate.service.report import build_report

Window = Literal["24h", "7d", "30d"]
WINDOWS: dict[Window, tuple[timedelta, Bucket]] = {
    "24h": (timedelta(hours=24), "hour"),
    "7d": (timedelta(days=7), "day"),
    "30d": (timedelta(days=30), "day"),
}
# The chart label of spend by keys that belong to no team.
NO_TEAM = "(no team)"


@dataclass(frozen=True, slots=True)
class Overview:
    """Everything the overview page shows, as integers (micro-dollars, counts, ms, basis points)."""

    now: datetime
    window: Window
    today: ReportGroup
    month: ReportGroup
    outcomes: Outcomes
    p50_ms: int | None
    p95_ms: int | None
    series: list[SeriesPoint]
    top_errors: list[ErrorCount]

    @property
    def window_spend_micros(self) -> int:
        """Everything spent in the window (the sum of the chart's buckets)."""
        return sum(point.spend_micros for point in self.series)

    @property
    def window_images(self) -> int:
        """Images delivered in the window."""
        return sum(point.images for point in self.series)


def day_start(now: datetime) -> datetime:
    """Midnight UTC of ``now``'s day."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> datetime:
    """Midnight UTC of the first day of ``now``'s month."""
    return day_start(now).replace(day=1)


def build_overview(
    reports: ReportStore, insights: LedgerInsights, *, now: datetime, window: Window = "24h"
) -> Overview:
    """The overview at ``now``; the charts, success rate, latency and errors cover ``window``."""
    span, bucket = WINDOWS[window]
    since = now - span
    if bucket == "day":
        since = day_start(since)
    outcomes = insights.outcomes(since, None)
    p50, p95 = insights.latency_percentiles(since, None, (0.5, 0.95))
    return Overview(
        now=now,
        window=window,
        today=build_report(reports, "model", since=day_start(now)).total,
        month=build_report(reports, "model", since=month_start(now)).total,
        outcomes=outcomes,
        p50_ms=p50,
        p95_ms=p95,
        series=insights.series(since, None, bucket),
        top_errors=insights.top_errors(since, None, 8),
    )


def chart_data(points: list[SeriesPoint], by: SeriesDimension) -> dict[str, object]:
    """A stacked-bar chart's data: bucket labels, and one dataset per model (route, team) with its
    spend (micro-dollars) and images per bucket. Keys without a team are grouped as ``NO_TEAM``."""

    def group_of(point: SeriesPoint) -> str:
        if by == "team":
            return NO_TEAM if point.team is None else point.team
        return point.model if by == "model" else point.route

    labels = sorted({point.bucket for point in points})
    groups = sorted({group_of(point) for point in points})
    index = {label: position for position, label in enumerate(labels)}
    spend = {group: [0] * len(labels) for group in groups}
    images = {group: [0] * len(labels) for group in groups}
    for point in points:
        spend[group_of(point)][index[point.bucket]] += point.spend_micros
        images[group_of(point)][index[point.bucket]] += point.images
    return {
        "labels": labels,
        "datasets": [{"label": group, "spend_micros": spend[group], "images": images[group]} for group in groups],
    }
