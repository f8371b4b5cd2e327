"""Pending attempts on both backends: completed with their ledger row, renewed, swept as ``unknown``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Connection

from imagegate.accounting.ports import LedgerEntry, PendingAttempt
from imagegate.store import SqlLedgerStore
from imagegate.store.pending_attempts import SqlPendingAttempts
from imagegate.store.reports import SqlReportStore

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _unknown(request_id: str, attempt: int = 1) -> LedgerEntry:
    return LedgerEntry(
        request_id=request_id,
        attempt=attempt,
        model="gpt-image-2",
        provider="openai",
        provider_model="gpt-image-2",
        route="openai/gpt-image-2",
        operation="generate",
        dialect="openai",
        status="unknown",
        created_at=T0,
        error_code="outcome_unknown",
        cost_micros=53_000,
        cost_estimated=True,
        usage={"note": "café"},
    )


def test_a_completed_attempt_leaves_its_row_and_no_pending_record(conn: Connection) -> None:
    pending = SqlPendingAttempts(conn)
    pending.begin_attempts([PendingAttempt(_unknown("done"), T0 + timedelta(seconds=60))])
    assert [item.entry for item in pending.pending()] == [_unknown("done")]
    outcome = replace(_unknown("done"), status="ok", error_code=None, cost_micros=40_000, cost_estimated=False)
    pending.complete_attempts([outcome], [("done", 1)])
    assert pending.pending() == []
    assert SqlLedgerStore(conn).query_entries(request_id="done") == [outcome]
    assert pending.resolve_stale_attempts(T0 + timedelta(days=1)) == []


def test_the_sweeper_writes_due_attempts_as_unknown_and_renewal_defers_them(conn: Connection) -> None:
    pending = SqlPendingAttempts(conn)
    pending.begin_attempts(
        [
            PendingAttempt(_unknown("dead"), T0 + timedelta(seconds=60)),
            PendingAttempt(_unknown("alive"), T0 + timedelta(seconds=60)),
        ]
    )
    pending.renew_attempts([("alive", 1)], T0 + timedelta(seconds=120))
    assert pending.resolve_stale_attempts(T0 + timedelta(seconds=59)) == []
    assert pending.resolve_stale_attempts(T0 + timedelta(seconds=60)) == [_unknown("dead")]
    assert [item.entry.request_id for item in pending.pending()] == ["alive"]
    assert SqlLedgerStore(conn).query_entries(request_id="dead") == [_unknown("dead")]
    # Reports count the unknown attempt as a failed attempt whose cost is an estimate.
    _, total = SqlReportStore(conn).aggregate("model")
    assert (total.failed_attempts, total.spend_micros, total.estimated_micros) == (1, 53_000, 53_000)


def test_recovered_attempts_are_adopted_unless_their_row_or_record_exists(conn: Connection) -> None:
    pending = SqlPendingAttempts(conn)
    due = T0 + timedelta(seconds=1)
    pending.begin_attempts([PendingAttempt(_unknown("promoted"), T0 + timedelta(seconds=60))])
    SqlLedgerStore(conn).append_entries([replace(_unknown("finished"), status="ok")])
    recovered = [PendingAttempt(_unknown(name), due) for name in ("promoted", "finished", "lost")]
    assert pending.adopt_attempts(recovered) == 1
    assert sorted(item.entry.request_id for item in pending.pending()) == ["lost", "promoted"]
    assert pending.adopt_attempts(recovered) == 0  # a second recovery of the same spool changes nothing


def test_a_held_attempt_is_settled_once_whoever_gets_there_first(conn: Connection) -> None:
    pending = SqlPendingAttempts(conn)
    held_until = T0 + timedelta(days=1)
    pending.begin_attempts([PendingAttempt(_unknown("held"), held_until), PendingAttempt(_unknown("swept"), T0)])
    assert pending.resolve_stale_attempts(T0 + timedelta(hours=1)) == [_unknown("swept")]  # "held" stays
    outcome = replace(_unknown("held"), status="ok", error_code=None, cost_micros=45_000, cost_estimated=False)
    late = replace(_unknown("swept"), status="ok", error_code=None, cost_micros=45_000, cost_estimated=False)
    # The resumed outcome goes in; an attempt the sweeper already wrote keeps its unknown row.
    assert pending.settle_attempts([outcome, late]) == [outcome]
    assert pending.settle_attempts([outcome]) == []  # a second settle of the same attempt: nothing
    assert pending.pending() == []
    ledger = SqlLedgerStore(conn)
    assert ledger.query_entries(request_id="held") == [outcome]
    assert ledger.query_entries(request_id="swept") == [_unknown("swept")]
    assert pending.resolve_stale_attempts(held_until) == []
