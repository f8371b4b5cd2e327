"""``SqlBatchStore`` on both backends: records round-trip, and settlement is claimed exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Connection

from imagegate.accounting.batches import BatchLineRecord, BatchRecord
from imagegate.store.batches import SqlBatchStore

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _record() -> BatchRecord:
    lines = [BatchLineRecord(key="000001", custom_id="fox", request={"prompt": "a fox", "n": None, "extra": {}})]
    return BatchRecord(
        id="batch_1",
        model="gpt",
        route="gpt/openai/gpt-image-2",
        provider="openai",
        provider_batch_id="batch_up_1",
        state="running",
        provider_state="validating",
        created_at=NOW,
        updated_at=NOW,
        lines=lines,
        key_id=None,
        key_name="batch-cli",
    )


def test_a_batch_round_trips_and_tracks_its_state(conn: Connection):
    store = SqlBatchStore(conn)
    store.create_batch(_record())
    assert store.get_batch("batch_1") == _record()
    assert store.get_batch("batch_other") is None

    store.update_state("batch_1", "completed", "completed", NOW + timedelta(hours=1))
    stored = store.get_batch("batch_1")
    assert stored is not None
    assert (stored.state, stored.provider_state, stored.updated_at) == (
        "completed",
        "completed",
        NOW + timedelta(hours=1),
    )


def test_settlement_is_claimed_once(conn: Connection):
    store = SqlBatchStore(conn)
    store.create_batch(_record())
    assert store.claim_settlement("batch_1", succeeded=19, failed=1, cost_micros=1234) is True
    assert store.claim_settlement("batch_1", succeeded=0, failed=0, cost_micros=0) is False
    stored = store.get_batch("batch_1")
    assert stored is not None
    assert (stored.settled, stored.succeeded, stored.failed, stored.cost_micros) == (True, 19, 1, 1234)
