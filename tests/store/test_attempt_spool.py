"""The spool line: what ``encode_entry`` would write for the entry, read back by ``decode_entry``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from imagegate.accounting.ports import LedgerEntry, PendingAttempt
from imagegate.store.attempt_spool import FileAttemptSpool
from imagegate.store.pending_attempts import decode_entry, encode_entry


def _entry() -> LedgerEntry:
    return LedgerEntry(
        request_id="req_0123456789abcdef0123456789abcdef",
        attempt=2,
        model="gpt-image-2",
        provider="openai",
        provider_model="gpt-image-2",
        route="openai-main",
        operation="generate",
        dialect="openai",
        status="unknown",
        created_at=datetime(2026, 12, 7, 1, 2, 3, 456789, tzinfo=UTC),
        key_id=4,
        key_name="ci",
        team="design",
        tags={"feature": "hero"},
        error_code="outcome_unknown",
        usage={"input_tokens": 12, "output_tokens_details": {"image_tokens": 272}},
        cost_micros=42_000,
        cost_estimated=True,
        stream=True,
    )


def test_a_spool_line_holds_the_entry_as_encode_entry_writes_it(tmp_path):
    entry = _entry()
    resolve_after = entry.created_at + timedelta(seconds=60)
    spool = FileAttemptSpool(tmp_path)
    spool.append(PendingAttempt(entry, resolve_after))
    [line] = spool.path.read_bytes().splitlines()
    record = orjson.loads(line)
    assert record["entry"] == encode_entry(entry)
    assert record["resolve_after"] == resolve_after.isoformat()
    assert decode_entry(record["entry"]) == entry
    spool.close()
