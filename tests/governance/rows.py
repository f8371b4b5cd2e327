"""Ledger rows for governance tests: one successful gpt-image-2 attempt, fields overridable."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from imagegate.accounting.ports import LedgerEntry


def ledger_row(request_id: str, created_at: datetime, **fields: Any) -> LedgerEntry:
    """An ``ok`` attempt of ``request_id`` at ``created_at``; ``fields`` override any column."""
    values: dict[str, Any] = {
        "attempt": 1,
        "model": "gpt-image-2",
        "provider": "openai",
        "provider_model": "gpt-image-2",
        "route": "gpt-image-2/openai/gpt-image-2",
        "operation": "generate",
        "dialect": "openai-images",
        "status": "ok",
        "images": 1,
        **fields,
    }
    return LedgerEntry(request_id=request_id, created_at=created_at, **values)
