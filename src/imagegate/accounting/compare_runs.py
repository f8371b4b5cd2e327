"""Compare runs as stored: the run, its cells, and the ledger's usage per request, behind a port.

``service.compare_runs`` is the service over it; ``store/compare.py`` implements the port.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

CellStatus = Literal["ok", "failed", "refused", "blocked"]
CELL_STATUSES: tuple[CellStatus, ...] = ("ok", "failed", "refused", "blocked")
MAX_CELLS_PER_RUN = 20_000
# Registration is one small JSON body (the edge allows 64 KiB off the image paths), so prompts are
# registered shortened for display (the workload file keeps them whole) and a run has at most this many.
MAX_PROMPTS = 400
MAX_PROMPT_DISPLAY_CHARS = 120
MAX_MODELS = 32


@dataclass(frozen=True, slots=True)
class CompareRun:
    """A registered run: who ran it, what it compares."""

    run_id: str
    name: str
    key_id: int
    key_name: str
    created_at: datetime
    prompts: tuple[str, ...]
    models: tuple[str, ...]
    cells: int


@dataclass(frozen=True, slots=True)
class CompareCell:
    """One finished cell as the runner saw it (no money: that is the ledger's)."""

    cell_id: str
    prompt_index: int
    model: str
    repetition: int
    status: CellStatus
    images_requested: int
    request_id: str | None = None
    latency_ms: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    image_urls: tuple[str, ...] = ()
    images: int = 0


@dataclass(frozen=True, slots=True)
class RequestUsage:
    """One request as the ledger has it: every attempt's cost summed, and the current verdicts."""

    request_id: str
    cost_micros: int
    estimated_micros: int
    attempts: int
    failed_attempts: int
    images: int
    verdicts: Mapping[int, bool] = field(default_factory=dict)


class CompareRunStore(Protocol):
    """Runs and cells, and the ledger's view of a run's requests."""

    def add_run(self, run: CompareRun) -> bool:
        """Store a run; False when its id exists already (registration is idempotent for its owner)."""
        ...

    def get_run(self, run_id: str) -> CompareRun | None:
        """The run, or None."""
        ...

    def list_runs(self, key_id: int | None, limit: int) -> list[CompareRun]:
        """Newest first; every key's when ``key_id`` is None."""
        ...

    def put_cell(self, run_id: str, cell: CompareCell) -> None:
        """Insert or replace one cell's record."""
        ...

    def cells(self, run_id: str) -> list[CompareCell]:
        """Every recorded cell of a run, in cell-id order."""
        ...

    def usage(self, run_id: str) -> dict[str, RequestUsage]:
        """The ledger's rows of the run's requests, summed per request id, with current verdicts."""
        ...
