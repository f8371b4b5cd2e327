"""Compare runs the gateway knows about: registered by ``imagegate compare run``, read by its report and the console.

The runner stays a client of the public API: it registers its run (prompts, models) and records each
finished cell (the request id its image request got, status, latency, image URLs when the gateway
stored them). Money is never reported by the runner: a run's usage is read from the ledger, joined
on the cells' request ids, with the current verdicts. A key sees its own runs; admin roles (and the
console) see every run.

Errors::

    ImagegateError
    ├── InvalidRequest     a malformed run or cell (names the field)
    └── ResourceNotFound   no run with that id visible to this caller
"""

from __future__ import annotations

from collections.abc import Sequence

from imagegate.accounting.auth import Principal
from imagegate.accounting.compare_runs import (
    CELL_STATUSES,
    MAX_CELLS_PER_RUN,
    MAX_MODELS,
    MAX_PROMPT_DISPLAY_CHARS,
    MAX_PROMPTS,
    CellStatus,
    CompareCell,
    CompareRun,
    CompareRunStore,
    RequestUsage,
)
from imagegate.domain.errors import InvalidRequest, ResourceNotFound

__all__ = [
    "CELL_STATUSES",
    "MAX_CELLS_PER_RUN",
    "MAX_MODELS",
    "MAX_PROMPTS",
    "MAX_PROMPT_DISPLAY_CHARS",
    "CellStatus",
    "CompareCell",
    "CompareRun",
    "CompareRunStore",
    "CompareRuns",
    "RequestUsage",
    "cell_statuses",
    "sees_everything",
]


def sees_everything(principal: Principal) -> bool:
    """Admin roles see every key's runs (the console, reports); client keys only their own."""
    return principal.role in ("admin", "admin-read")


class CompareRuns:
    """The compare-run service used by the public API and the console."""

    def __init__(self, store: CompareRunStore) -> None:
        self._store = store

    def register(self, principal: Principal, run: CompareRun) -> CompareRun:
        """Store a new run for ``principal``'s key (registering the same id again is a no-op)."""
        _check_run(run)
        if self._store.add_run(run):
            return run
        existing = self.get(principal, run.run_id)
        return existing

    def record_cell(self, principal: Principal, run_id: str, cell: CompareCell) -> None:
        """Record (or re-record) one finished cell of a run this key owns."""
        run = self.get(principal, run_id)
        if run.key_id != principal.key_id:
            raise ResourceNotFound(f"no compare run '{run_id}' for this key", param="run_id")
        if cell.model not in run.models:
            raise InvalidRequest(f"model '{cell.model}' is not one of the run's models", param="model")
        if not 0 <= cell.prompt_index < len(run.prompts):
            raise InvalidRequest("prompt_index is outside the run's prompts", param="prompt_index")
        self._store.put_cell(run_id, cell)

    def get(self, principal: Principal, run_id: str) -> CompareRun:
        """A run visible to ``principal``."""
        run = self._store.get_run(run_id)
        if run is None or (run.key_id != principal.key_id and not sees_everything(principal)):
            raise ResourceNotFound(f"no compare run '{run_id}'", param="run_id")
        return run

    def visible_runs(self, principal: Principal | None, limit: int = 100) -> list[CompareRun]:
        """Runs visible to ``principal`` (every run for the master key, passed as None)."""
        everything = principal is None or sees_everything(principal)
        return self._store.list_runs(None if everything or principal is None else principal.key_id, limit)

    def detail(
        self, principal: Principal | None, run_id: str
    ) -> tuple[CompareRun, list[CompareCell], dict[str, RequestUsage]]:
        """The run, its cells and its requests' ledger usage (``principal`` None: the master key)."""
        run = self._store.get_run(run_id) if principal is None else self.get(principal, run_id)
        if run is None:
            raise ResourceNotFound(f"no compare run '{run_id}'", param="run_id")
        return run, self._store.cells(run_id), self._store.usage(run_id)


def _check_run(run: CompareRun) -> None:
    if not run.run_id.startswith("cmp_") or not 5 <= len(run.run_id) <= 64:
        raise InvalidRequest("run_id must start with 'cmp_' (at most 64 characters)", param="run_id")
    if not 0 < len(run.models) <= MAX_MODELS or len(set(run.models)) != len(run.models):
        raise InvalidRequest(f"models: 1 to {MAX_MODELS} distinct models", param="models")
    if not 0 < len(run.prompts) <= MAX_PROMPTS:
        raise InvalidRequest(f"prompts: 1 to {MAX_PROMPTS} prompts", param="prompts")
    if not 0 < run.cells <= MAX_CELLS_PER_RUN:
        raise InvalidRequest(f"cells: 1 to {MAX_CELLS_PER_RUN} cells", param="cells")


def cell_statuses(cells: Sequence[CompareCell]) -> dict[str, int]:
    """How many cells ended in each status."""
    counts: dict[str, int] = {}
    for cell in cells:
        counts[cell.status] = counts.get(cell.status, 0) + 1
    return counts
