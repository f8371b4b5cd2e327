"""The ledger writer's crash-safety settings: how begun attempts are kept until their rows land.

``accounting.attempt_keeper`` describes the mechanism (the local spool, promotion to pending records,
leases, the sweeper); ``CrashSafety`` is what the composition root chooses for it (settings ``ledger_*``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from imagegate.accounting.ports import AttemptSpool, LedgerEntry, PendingAttemptStore


@dataclass(frozen=True, slots=True)
class CrashSafety:
    """How pending attempts are kept (settings ``ledger_*``)."""

    store: PendingAttemptStore
    spool: AttemptSpool
    # A pending row is resolved as ``unknown`` this long after its owner last renewed it.
    lease_s: float = 60.0
    sweep_interval_s: float = 30.0
    # Attempts running longer than this stop being renewed (a bounded in-process set).
    max_attempt_s: float = 3600.0
    # An attempt still running this long after it began gets a pending record in the database;
    # until then (and for every call that ends sooner) the local spool alone covers it.
    promote_after_s: float = 1.0
    # Told (on the writer's thread) of the rows the sweeper wrote: admission counts their cost.
    on_resolved: Callable[[list[LedgerEntry]], None] | None = None
