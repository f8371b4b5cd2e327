"""The batch-state port: durable records of provider batches, so any process can poll them to the end.

``store/batches.py`` implements it on the database; ``service/batches.py`` is its only caller.
A record holds the requests as canonical fields (prompts and options; never image bytes) so the
lines can be priced when the provider's answers arrive, possibly days and processes later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class BatchLineRecord:
    """One request of a batch: the gateway's line key, the client's ``custom_id`` and the request."""

    key: str
    custom_id: str
    request: dict[str, Any]


@dataclass(slots=True)
class BatchRecord:
    """A batch submitted to a provider and what is known of it."""

    id: str
    model: str
    route: str
    provider: str
    provider_batch_id: str
    state: str
    provider_state: str
    created_at: datetime
    updated_at: datetime
    lines: list[BatchLineRecord] = field(default_factory=list)
    key_id: int | None = None
    key_name: str | None = None
    # Set once the per-request ledger rows are written (exactly once, by whoever claimed it).
    settled: bool = False
    succeeded: int = 0
    failed: int = 0
    cost_micros: int = 0


class BatchStore(Protocol):
    """Batch records in the database."""

    def create_batch(self, record: BatchRecord) -> None:
        """Insert a new record."""
        ...

    def get_batch(self, batch_id: str) -> BatchRecord | None:
        """The record, or None."""
        ...

    def unsettled_batches(self) -> list[str]:
        """Ids of the batches not settled yet, oldest first (the background poller's work)."""
        ...

    def update_state(self, batch_id: str, state: str, provider_state: str, now: datetime) -> None:
        """Store the provider's latest word on the batch."""
        ...

    def claim_settlement(self, batch_id: str, *, succeeded: int, failed: int, cost_micros: int) -> bool:
        """Mark the batch settled with its totals; False when another poller already did."""
        ...
