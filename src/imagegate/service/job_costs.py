"""What each job run's attempts cost, summed from the attempt events (docs/jobs.md, "The job object")."""

from __future__ import annotations

from imagegate.accounting.ports import LedgerEntry


class RunCosts:
    """Sums what each job run's attempts cost (an ``AttemptObserver``): a failed job's ``cost``.

    A completed job's cost is the served charge, as the synchronous call's header shows it; a failed
    one has no served charge, yet its attempts may have been billed (a blocked prompt, a timeout).
    """

    def __init__(self) -> None:
        self._runs: dict[str, tuple[int, bool]] = {}

    def track(self, request_id: str) -> None:
        """Start summing the attempts of ``request_id``."""
        self._runs[request_id] = (0, False)

    def take(self, request_id: str) -> tuple[int, bool]:
        """The run's total (micro-dollars, whether any part is estimated), and stop tracking it."""
        return self._runs.pop(request_id, (0, False))

    def observe(self, entry: LedgerEntry) -> None:
        """Called once per recorded attempt (every request's; only tracked runs are summed)."""
        run = self._runs.get(entry.request_id)
        if run is not None:
            self._runs[entry.request_id] = (run[0] + entry.cost_micros, run[1] or entry.cost_estimated)
