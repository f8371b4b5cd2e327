"""Spend and acceptance reports for finance and operators (``imagegate report``, ``/api/report``).

The figures come from ``ReportStore.aggregate`` (SQL); this module fixes their presentation, which
finance reconciles against provider invoices: money as decimal strings of USD with six places,
counts as integers, rates with four places, empty where undefined, columns in ``COLUMNS`` order.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from imagegate.accounting.reports import ReportDimension, ReportGroup, ReportStore
from imagegate.domain.durations import parse_span
from imagegate.domain.money import usd_string

# After the grouping column (named after the dimension), in this order. Append, never reorder.
COLUMNS = (
    "requests",
    "attempts",
    "failed_attempts",
    "images",
    "accepted",
    "rejected",
    "unrated",
    "acceptance_rate",
    "spend_usd",
    "estimated_spend_usd",
    "cost_per_image_usd",
    "cost_per_accepted_image_usd",
    "moderated_attempts",
)


@dataclass(frozen=True, slots=True)
class Report:
    """A report: the dimension, the window, one group per value and the total."""

    by: ReportDimension
    since: datetime | None
    until: datetime | None
    groups: list[ReportGroup]
    total: ReportGroup

    def rows(self) -> list[dict[str, Any]]:
        """One dict per group: the grouping column first, then ``COLUMNS``."""
        return [{self.by: group.group, **figures(group)} for group in self.groups]

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``GET /api/report`` and ``imagegate report --json``."""
        return {
            "object": "imagegate.report",
            "by": self.by,
            "since": None if self.since is None else self.since.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
            "columns": [self.by, *COLUMNS],
            "rows": self.rows(),
            "total": figures(self.total),
        }

    def to_csv(self) -> str:
        """CSV with a header row, ``\\r\\n`` line ends (RFC 4180), no total row."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([self.by, *COLUMNS])
        for row in self.rows():
            writer.writerow(["" if value is None else value for value in row.values()])
        return buffer.getvalue()


def figures(group: ReportGroup) -> dict[str, Any]:
    """A group's figures in ``COLUMNS`` order (money and rates as strings, ``None`` if undefined)."""
    rate = group.acceptance_rate
    return {
        "requests": group.requests,
        "attempts": group.attempts,
        "failed_attempts": group.failed_attempts,
        "images": group.images,
        "accepted": group.accepted,
        "rejected": group.rejected,
        "unrated": group.unrated,
        "acceptance_rate": None if rate is None else str(rate),
        "spend_usd": usd_string(group.spend_micros),
        "estimated_spend_usd": usd_string(group.estimated_micros),
        "cost_per_image_usd": _usd(group.cost_per_image_micros),
        "cost_per_accepted_image_usd": _usd(group.cost_per_accepted_micros),
        "moderated_attempts": group.moderated_attempts,
    }


def build_report(
    store: ReportStore,
    by: ReportDimension,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    tag: tuple[str, str] | None = None,
) -> Report:
    """Aggregate and wrap; ``since`` is inclusive, ``until`` exclusive; only rows with ``tag`` when given."""
    groups, total = store.aggregate(by, since=since, until=until, tag=tag)
    return Report(by=by, since=since, until=until, groups=groups, total=total)


def parse_when(value: str | None, now: datetime | None = None) -> datetime | None:
    """An ISO-8601 time (UTC when it has no zone) or a span back from now (``30m``, ``2h``, ``7d``).

    Raises ValueError for anything else.
    """
    if value is None or value.strip() == "":
        return None
    span = parse_span(value)
    if span is not None:
        return (now if now is not None else datetime.now(UTC)) - span
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"{value!r}: expected an ISO time (2026-11-01 or 2026-11-01T10:00Z) or a span (2h, 7d)"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _usd(micros: int | None) -> str | None:
    return None if micros is None else usd_string(micros)
