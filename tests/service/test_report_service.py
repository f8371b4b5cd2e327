"""Report presentation: the CSV finance reconciles (decimal strings, stable columns) and time parsing."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from imagegate.accounting.reports import ReportGroup
from imagegate.service.report import COLUMNS, build_report, parse_when

GPT2 = ReportGroup(
    group="gpt-image-2",
    requests=2,
    attempts=3,
    failed_attempts=1,
    images=3,
    accepted=2,
    rejected=1,
    spend_micros=150_000,
    estimated_micros=50_000,
)
EMPTY = ReportGroup(
    group=None,
    requests=1,
    attempts=1,
    failed_attempts=1,
    images=0,
    accepted=0,
    rejected=0,
    spend_micros=30_001,
    estimated_micros=0,
)


class FakeStore:
    def aggregate(self, by, *, since=None, until=None, tag=None):
        return [GPT2, EMPTY], GPT2


def test_csv_columns_and_values() -> None:
    report = build_report(FakeStore(), "key", since=datetime(2026, 11, 1, tzinfo=UTC))
    rows = list(csv.reader(io.StringIO(report.to_csv())))
    assert rows[0] == ["key", *COLUMNS]
    assert rows[0][1:] == [
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
    ]
    assert rows[1] == [
        "gpt-image-2",
        "2",
        "3",
        "1",
        "3",
        "2",
        "1",
        "0",
        "0.6667",
        "0.150000",
        "0.050000",
        "0.050000",
        "0.075000",
        "0",
    ]
    # Undefined figures are empty, a missing key name too; money is never in exponent notation.
    assert rows[2] == ["", "1", "1", "1", "0", "0", "0", "0", "", "0.030001", "0.000000", "", "", "0"]
    assert report.to_csv().endswith("\r\n") and len(rows) == 3


def test_json_shape() -> None:
    body = build_report(FakeStore(), "model").as_dict()
    assert body["columns"] == ["model", *COLUMNS]
    assert body["rows"][0]["model"] == "gpt-image-2" and body["rows"][0]["cost_per_accepted_image_usd"] == "0.075000"
    assert body["total"]["spend_usd"] == "0.150000" and body["since"] is None


def test_parse_when() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert parse_when("7d", now) == now - timedelta(days=7)
    assert parse_when("2026-11-01", now) == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_when("2026-11-01T10:00+01:00", now) == datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    assert parse_when(None) is None and parse_when("") is None
    with pytest.raises(ValueError, match="expected an ISO time"):
        parse_when("last tuesday")
