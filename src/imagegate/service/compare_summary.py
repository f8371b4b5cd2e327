"""The per-model summary of a compare run: outcomes from the run's records, money from the ledger.

Spend is the sum of the ledger's settled cost over every attempt of the model's requests (failed,
blocked and retried attempts included), read back from the gateway; acceptance is the current
verdict on delivered images (``/v1/images/feedback``). Cost per accepted image and the acceptance
rate use the same arithmetic as ``imagegate report`` (``accounting.reports.ReportGroup``).

Latency: each cell's time from sending the request to having the whole response, measured by the
runner, over the cells that returned images; percentiles by the nearest-rank method. Fewer than
``INDICATIVE_BELOW`` samples make a percentile *indicative* (it says so).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from imagegate.accounting.reports import ReportGroup
from imagegate.service.compare_runs import CompareCell, RequestUsage

INDICATIVE_BELOW = 20
MICROS_PER_USD = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """One column of the grid, summed."""

    model: str
    cells: int
    requested: int
    returned: int
    failed: int
    blocked: int
    refused: int
    retried: int
    accepted: int
    rejected: int
    spend_micros: int
    estimated_micros: int
    latencies_ms: tuple[int, ...]

    @property
    def group(self) -> ReportGroup:
        """The same figures as a report group, for the shared arithmetic."""
        return ReportGroup(
            group=self.model,
            requests=self.cells,
            attempts=0,
            failed_attempts=0,
            images=self.returned,
            accepted=self.accepted,
            rejected=self.rejected,
            spend_micros=self.spend_micros,
            estimated_micros=self.estimated_micros,
        )

    @property
    def p50_ms(self) -> int | None:
        """Median latency of the cells that returned images."""
        return percentile(self.latencies_ms, 50)

    @property
    def p95_ms(self) -> int | None:
        """95th-percentile latency of the cells that returned images."""
        return percentile(self.latencies_ms, 95)

    @property
    def latency_indicative(self) -> bool:
        """Too few samples for the percentiles to mean much."""
        return len(self.latencies_ms) < INDICATIVE_BELOW

    def monthly_cost_micros(self, accepted_per_month: int) -> int | None:
        """What ``accepted_per_month`` accepted images a month would cost at this run's rate."""
        per_accepted = self.group.cost_per_accepted_micros
        return None if per_accepted is None else per_accepted * accepted_per_month

    def as_dict(self, accepted_per_month: int | None = None) -> dict[str, Any]:
        """The summary row (money as USD strings with six decimals, never floats)."""
        group = self.group
        row: dict[str, Any] = {
            "model": self.model,
            "requested": self.requested,
            "returned": self.returned,
            "failed": self.failed,
            "blocked": self.blocked,
            "refused": self.refused,
            "retried": self.retried,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "acceptance_rate": None if group.acceptance_rate is None else str(group.acceptance_rate),
            "spend_usd": usd(self.spend_micros),
            "estimated_usd": usd(self.estimated_micros),
            "cost_per_accepted_image_usd": usd(group.cost_per_accepted_micros),
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "latency_samples": len(self.latencies_ms),
            "latency_indicative": self.latency_indicative,
        }
        if accepted_per_month is not None:
            row["accepted_per_month"] = accepted_per_month
            row["monthly_cost_usd"] = usd(self.monthly_cost_micros(accepted_per_month))
        return row


def percentile(samples: Sequence[int], rank: int) -> int | None:
    """Nearest-rank percentile (``None`` without samples)."""
    if len(samples) == 0:
        return None
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)]


def usd(micros: int | None) -> str | None:
    """Micro-dollars as a USD string with six decimals."""
    if micros is None:
        return None
    return str((Decimal(micros) / MICROS_PER_USD).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP))


def micros_of(amount: str) -> int:
    """A USD string (``"0.031000"``) back to integer micro-dollars, exactly."""
    return int((Decimal(amount) * MICROS_PER_USD).to_integral_value(rounding=ROUND_HALF_UP))


def summarise(
    models: Sequence[str], records: Iterable[CompareCell], usage: Mapping[str, RequestUsage]
) -> list[ModelSummary]:
    """One summary per model, in the workload's order; a request missing from ``usage`` costs nothing."""
    by_model: dict[str, list[CompareCell]] = {model: [] for model in models}
    for record in records:
        by_model.setdefault(record.model, []).append(record)
    summaries = []
    for model, cells in by_model.items():
        used = [usage[cell.request_id] for cell in cells if cell.request_id is not None and cell.request_id in usage]
        summaries.append(
            ModelSummary(
                model=model,
                cells=len(cells),
                requested=sum(cell.images_requested for cell in cells),
                returned=sum(cell.images for cell in cells if cell.status == "ok"),
                failed=sum(1 for cell in cells if cell.status == "failed"),
                blocked=sum(1 for cell in cells if cell.status == "blocked"),
                refused=sum(1 for cell in cells if cell.status == "refused"),
                retried=sum(1 for request in used if request.attempts > 1),
                accepted=sum(sum(1 for ok in request.verdicts.values() if ok) for request in used),
                rejected=sum(sum(1 for ok in request.verdicts.values() if not ok) for request in used),
                spend_micros=sum(request.cost_micros for request in used),
                estimated_micros=sum(request.estimated_micros for request in used),
                latencies_ms=tuple(
                    cell.latency_ms for cell in cells if cell.status == "ok" and cell.latency_ms is not None
                ),
            )
        )
    return summaries
