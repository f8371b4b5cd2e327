"""A ledger row for tests: every required field filled with a plain value, the rest as given."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from imagegate.accounting.ports import LedgerEntry

WHEN = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def ledger_row(request_id: str, **fields: Any) -> LedgerEntry:
    """An ``ok`` attempt 1 of a GPT Image generation at ``WHEN``, with ``fields`` overriding."""
    values: dict[str, Any] = {
        "request_id": request_id,
        "attempt": 1,
        "model": "m",
        "provider": "openai",
        "provider_model": "gpt-image-2",
        "route": "r",
        "operation": "generate",
        "dialect": "openai",
        "status": "ok",
        "created_at": WHEN,
    }
    values.update(fields)
    return LedgerEntry(**values)
