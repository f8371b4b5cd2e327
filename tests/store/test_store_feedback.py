"""Acceptance verdicts and the SQL report, on SQLite and PostgreSQL (each test rolled back)."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from imagegate.accounting.feedback import ImageFeedback
from imagegate.accounting.ports import LedgerEntry
from imagegate.store import SqlLedgerStore, current_revision, upgrade_database
from imagegate.store.feedback import SqlFeedbackStore
from imagegate.store.ledger_tables import ledger as ledger_table
from imagegate.store.reports import SqlReportStore

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _entry(request_id: str, **overrides) -> LedgerEntry:
    base = LedgerEntry(
        request_id=request_id,
        attempt=1,
        model="gpt-image-2",
        provider="openai",
        provider_model="gpt-image-2",
        route="r1",
        operation="generate",
        dialect="openai-images",
        status="ok",
        created_at=T0,
        key_name="alice",
        images=1,
        cost_micros=0,
    )
    return replace(base, **overrides)


def _verdict(request_id: str, index: int, accepted: bool, minutes: int = 0) -> ImageFeedback:
    return ImageFeedback(
        request_id=request_id,
        image_index=index,
        accepted=accepted,
        key_id=None,
        key_name="alice",
        created_at=T0 + timedelta(minutes=minutes),
    )


@pytest.fixture
def feedback(conn: Connection) -> SqlFeedbackStore:
    return SqlFeedbackStore(conn)


@pytest.fixture
def seeded(conn: Connection, feedback: SqlFeedbackStore) -> SqlReportStore:
    """Four requests in November and one in October (see each assertion for the arithmetic)."""
    SqlLedgerStore(conn).append_entries(
        [
            # req_a: a 500 on route r1 (not billed), then 2 images on r2; verdicts: both kept.
            _entry("req_a", status="error", error_code="upstream_unavailable", images=0),
            _entry("req_a", attempt=2, route="r2", images=2, cost_micros=100_000),
            # req_b: bob's image on r1, cost estimated; rejected.
            _entry("req_b", key_name="bob", cost_micros=50_000, cost_estimated=True),
            # req_c: moderation block the provider billed, on another model and route.
            _entry(
                "req_c",
                model="gpt-image-1.5",
                route="r3",
                status="error",
                error_code="moderation_blocked",
                images=0,
                cost_micros=30_000,
            ),
            # req_old: before the report window.
            _entry("req_old", cost_micros=999_999, created_at=T0 - timedelta(days=20)),
        ]
    )
    feedback.append_feedback(_verdict("req_a", 0, True))
    feedback.append_feedback(_verdict("req_a", 1, False))
    feedback.append_feedback(_verdict("req_a", 1, True, minutes=5))  # changed mind: last write wins
    feedback.append_feedback(_verdict("req_b", 0, False))
    feedback.append_feedback(_verdict("req_old", 0, True))
    return SqlReportStore(conn)


def test_request_owner_counts_delivered_images(seeded, feedback: SqlFeedbackStore) -> None:
    owner = feedback.request_owner("req_a")
    assert owner is not None and (owner.key_name, owner.images) == ("alice", 2)
    blocked = feedback.request_owner("req_c")
    assert blocked is not None and blocked.images == 0
    assert feedback.request_owner("req_missing") is None


def test_latest_verdict_counts_and_history_is_kept(seeded, feedback: SqlFeedbackStore, conn: Connection) -> None:
    assert feedback.current_feedback("req_a") == {0: True, 1: True}
    assert feedback.current_feedback("req_b") == {0: False}
    assert feedback.current_feedback("req_missing") == {}
    history = conn.execute(sa.text("select count(*) from image_feedback where request_id = 'req_a'")).scalar()
    assert history == 3


def test_negative_image_index_is_refused_by_the_database(feedback: SqlFeedbackStore) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        feedback.append_feedback(_verdict("req_x", -1, True))


def test_report_by_model(seeded: SqlReportStore) -> None:
    groups, total = seeded.aggregate("model", since=T0 - timedelta(hours=1))
    assert [g.group for g in groups] == ["gpt-image-2", "gpt-image-1.5"]  # most spend first
    gpt2, gpt15 = groups
    assert (gpt2.requests, gpt2.attempts, gpt2.failed_attempts, gpt2.images) == (2, 3, 1, 3)
    assert (gpt2.accepted, gpt2.rejected, gpt2.unrated) == (2, 1, 0)
    assert (gpt2.spend_micros, gpt2.estimated_micros) == (150_000, 50_000)
    assert str(gpt2.acceptance_rate) == "0.6667"
    assert gpt2.cost_per_image_micros == 50_000
    # The rejected image's cost and the failed attempt weigh on the two accepted ones.
    assert gpt2.cost_per_accepted_micros == 75_000
    assert (gpt15.requests, gpt15.images, gpt15.spend_micros) == (1, 0, 30_000)
    assert gpt15.acceptance_rate is None and gpt15.cost_per_accepted_micros is None
    assert (total.requests, total.attempts, total.failed_attempts, total.images) == (3, 4, 2, 3)
    assert (total.accepted, total.rejected, total.spend_micros) == (2, 1, 180_000)
    assert total.cost_per_accepted_micros == 90_000


def test_report_by_route_attributes_verdicts_to_the_serving_attempt(seeded: SqlReportStore) -> None:
    groups, _ = seeded.aggregate("route", since=T0 - timedelta(hours=1))
    by_route = {g.group: g for g in groups}
    assert [g.group for g in groups] == ["r2", "r1", "r3"]
    # r1 saw req_a's failed attempt and req_b: both requests count there.
    assert (by_route["r1"].requests, by_route["r1"].attempts, by_route["r1"].failed_attempts) == (2, 2, 1)
    assert (by_route["r1"].images, by_route["r1"].accepted, by_route["r1"].rejected) == (1, 0, 1)
    assert (by_route["r2"].images, by_route["r2"].accepted, by_route["r2"].spend_micros) == (2, 2, 100_000)


def test_report_by_key_and_window(seeded: SqlReportStore) -> None:
    groups, _ = seeded.aggregate("key", since=T0 - timedelta(hours=1))
    by_key = {g.group: g for g in groups}
    assert (by_key["alice"].spend_micros, by_key["alice"].accepted) == (130_000, 2)
    assert by_key["alice"].cost_per_accepted_micros == 65_000
    assert (by_key["bob"].spend_micros, by_key["bob"].rejected, by_key["bob"].accepted) == (50_000, 1, 0)
    _everything, total = seeded.aggregate("key")
    assert total.spend_micros == 180_000 + 999_999 and total.accepted == 3
    october, total = seeded.aggregate("key", until=T0 - timedelta(days=1))
    assert [(g.group, g.spend_micros) for g in october] == [("alice", 999_999)]
    empty, total = seeded.aggregate("model", since=T0 + timedelta(days=1))
    assert empty == [] and total.spend_micros == 0 and total.requests == 0


def test_report_rejects_an_unknown_dimension(seeded: SqlReportStore) -> None:
    with pytest.raises(ValueError, match="cannot group by"):
        seeded.aggregate("color")  # type: ignore[arg-type]


def test_upgrade_from_0001_keeps_the_ledger_and_adds_feedback(empty_engine) -> None:
    upgrade_database(empty_engine, "0001")
    # Only the columns 0001 has: the ledger store writes the newest schema.
    row = {
        k: v for k, v in dataclasses.asdict(_entry("req_before", cost_micros=7)).items() if k not in ("team", "tags")
    }
    with empty_engine.begin() as conn:
        conn.execute(sa.insert(ledger_table).values(**row))
    assert "image_feedback" not in sa.inspect(empty_engine).get_table_names()
    upgrade_database(empty_engine, "0002")
    assert current_revision(empty_engine) == "0002"
    store = SqlFeedbackStore(empty_engine)
    store.append_feedback(_verdict("req_before", 0, True))
    assert store.current_feedback("req_before") == {0: True}
    upgrade_database(empty_engine)
    assert SqlLedgerStore(empty_engine).query_entries()[0].cost_micros == 7
