"""Settling one line of a final batch: its ledger row at the batch tier, and its result.

A line's answer is read by the route's adapter exactly as a single answer would be (``from_wire``
/ ``error_from_wire``) and priced with the route's price row at its ``batch`` tier; a line the
provider never ran is an error row at 0 (docs/batch.md, "What is billed").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from imagegate.accounting.batches import BatchLineRecord
from imagegate.accounting.ports import LedgerEntry
from imagegate.domain.errors import ProviderError
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult
from imagegate.pricing.engine import Charge, settle
from imagegate.pricing.rows import UnknownTier
from imagegate.providers.batch import LineAnswer
from imagegate.service.attempts import attempt_entry, unpriced, zero_charge
from imagegate.service.plan import Plan, PlannedRoute
from imagegate.service.wire_parse import read_answer

BATCH_TIER = "batch"


@dataclass(frozen=True, slots=True)
class LineOutcome:
    """One request's outcome once the batch is final: its ledger row and, on success, the result."""

    line: BatchLineRecord
    entry: LedgerEntry
    result: ImageResult | None


def batch_charge(route: PlannedRoute, request: ImageRequest, result: ImageResult) -> Charge:
    """The line's cost at the route's batch tier (unpriced when the row has no batch tier)."""
    if route.price is None:
        return unpriced()
    try:
        return settle(request, result, route.price, tier=BATCH_TIER)
    except UnknownTier:
        return unpriced()


def line_outcome(
    plan: Plan,
    route: PlannedRoute,
    line: BatchLineRecord,
    answer: LineAnswer | None,
    *,
    not_run: str,
    batch_id: str,
    now: datetime,
) -> LineOutcome:
    """The ledger row of one line (``not_run``: the error code of a line without an answer)."""
    request = route.request_for(plan.request)
    row: dict[str, Any] = {"created_at": now, "provider_request_id": batch_id}
    if answer is None or answer.not_run is not None:
        code = not_run if answer is None or answer.not_run in (None, "not_run") else answer.not_run
        return LineOutcome(line, attempt_entry(plan, route, 1, status="error", error_code=code, **row), None)
    response = answer.response
    provider_id = route.adapter.provider_request_id(response.headers)
    try:
        if response.status >= 300:
            raise read_answer(response, lambda: route.adapter.error_from_wire(response), provider_id)
        result = read_answer(
            response, lambda: route.adapter.from_wire(response, request, route.target, keep_raw=False), provider_id
        )
    except ProviderError as error:
        # Billed only when the provider reported usage for the failed line (a blocked prompt).
        charge = zero_charge() if error.usage is None else batch_charge(route, request, ImageResult(0, error.usage))
        entry = attempt_entry(
            plan,
            route,
            1,
            status="error",
            error_code=error.code,
            http_status=error.provider_status,
            usage={} if error.usage is None else dict(error.usage.raw),
            cost_micros=charge.micros,
            cost_estimated=charge.estimated,
            **row,
        )
        return LineOutcome(line, entry, None)
    charge = batch_charge(route, request, result)
    if result.provider_request_id is not None:
        row["provider_request_id"] = result.provider_request_id
    entry = attempt_entry(
        plan,
        route,
        1,
        status="ok",
        http_status=response.status,
        images=result.image_count,
        usage=dict(result.usage.raw),
        cost_micros=charge.micros,
        cost_estimated=charge.estimated,
        **row,
    )
    return LineOutcome(line, entry, result)
