"""Recording attempts: what each one cost, by one rule per outcome, and its ledger row.

The rule (documented in docs/pricing.md, "What a failed attempt costs"), applied to plain,
streamed and fanned-out attempts alike:

- **billed**: the provider answered with usage (a success, or a failure it bills, such as a
  blocked prompt) → the actual cost settled from that usage;
- **possibly billed**: the request was sent and what the provider did is unknown (a timeout after
  sending, a 2xx body that broke off or could not be parsed, the client gone or the server
  stopping mid-call, an unexpected error) → the quote (the upper bound), flagged estimated;
- **not billed**: nothing reached the provider or it refused the call (connection refused, a
  4xx/5xx error answer without usage) → 0.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from imagegate.accounting.ledger import LedgerWriter, utc_now
from imagegate.accounting.ports import LedgerEntry
from imagegate.domain.errors import ImagegateError, ProviderError, UpstreamBadResponse, UpstreamTimeout
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult, Usage
from imagegate.pricing.engine import Charge, quote, settle
from imagegate.service.plan import Plan, PlannedRoute

log = logging.getLogger("imagegate.service")

# The cancellation message the transport uses when the client hung up (``Task.cancel(msg=...)``),
# telling a client's disconnect apart from a server shutting down.
CLIENT_DISCONNECTED = "client_disconnected"


def cancelled_by_client(error: asyncio.CancelledError) -> bool:
    """Whether a cancellation was the client hanging up (not the server stopping)."""
    return CLIENT_DISCONNECTED in error.args


def zero_charge() -> Charge:
    """Not billed."""
    return Charge(micros=0, estimated=False, breakdown={}, unit="none")


def unpriced() -> Charge:
    """Billed by the provider, but this gateway has no price row for it."""
    return Charge(micros=0, estimated=True, breakdown={}, unit="unpriced")


def possibly_billed(error: ProviderError) -> bool:
    """Whether the provider may have billed a failed call that reported no usage.

    A timeout means the request went out (connect failures are ``UpstreamUnavailable``); a bad
    response with a 2xx status (or none: the body broke off) means the provider did the work.
    Error answers (4xx/5xx) and unreachable providers are not billed.
    """
    if isinstance(error, UpstreamTimeout):
        return True
    if isinstance(error, UpstreamBadResponse):
        return error.provider_status is None or 200 <= error.provider_status < 300
    return False


def attempt_entry(plan: Plan, route: PlannedRoute, attempt: int, **outcome: Any) -> LedgerEntry:
    """The ledger row of one attempt: who, what and where from the plan, the outcome as given."""
    return LedgerEntry(
        request_id=plan.request_id,
        attempt=attempt,
        model=plan.alias.name,
        provider=route.target.provider,
        provider_model=route.target.model,
        route=route.target.name,
        operation=plan.request.operation,
        dialect=plan.request.dialect,
        key_id=plan.principal.key_id,
        key_name=plan.principal.key_name,
        team=plan.principal.team_name,
        tags=None if len(plan.principal.tags) == 0 else dict(plan.principal.tags),
        stream=plan.request.stream,
        **outcome,
    )


AttemptObserver = Callable[[LedgerEntry], None]
"""A subscriber to attempt events: called once per recorded attempt with its ledger row.

Metrics, traces and admission settle subscribe here (wired in ``app.py``) instead of re-deriving
the facts; an observer must be quick and must not raise (a failing observer is logged, and the
attempt's row is still written)."""


class AttemptRecorder:
    """Prices attempts and writes their ledger rows (one per attempt, whatever its outcome)."""

    def __init__(
        self,
        ledger: LedgerWriter,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = utc_now,
        observers: Sequence[AttemptObserver] = (),
    ) -> None:
        self._ledger = ledger
        self.clock = clock
        self._wall_clock = wall_clock
        self._observers = tuple(observers)

    # -- the cost rule -------------------------------------------------------------------------

    def settle(
        self, plan: Plan, route: PlannedRoute, result: ImageResult, request: ImageRequest | None = None
    ) -> Charge:
        """Billed: the actual cost of ``result``'s usage."""
        if route.price is None:
            return unpriced()
        try:
            request = request if request is not None else route.request_for(plan.request)
            return settle(request, result, route.price, tool_price=route.tool_price)
        except Exception:
            # A pricing bug must never cost a ledger row: record it unpriced, loudly.
            log.exception("settling %s on route %s failed", plan.request_id, route.target.name)
            return unpriced()

    def quote(self, plan: Plan, route: PlannedRoute, request: ImageRequest | None = None) -> Charge:
        """Possibly billed: the upper bound, flagged estimated."""
        if route.price is None:
            return unpriced()
        try:
            request = request if request is not None else route.request_for(plan.request)
            priced = quote(request, route.price, tool_price=route.tool_price)
        except Exception:
            log.exception("quoting %s on route %s failed", plan.request_id, route.target.name)
            return unpriced()
        return dataclasses.replace(priced, estimated=True)

    def for_error(
        self, plan: Plan, route: PlannedRoute, error: ProviderError, request: ImageRequest | None = None
    ) -> Charge:
        """A failed attempt's cost: its reported usage, else the quote when possibly billed, else 0."""
        if error.usage is not None:
            return self.settle(plan, route, ImageResult(image_count=0, usage=error.usage), request)
        if possibly_billed(error):
            return self.quote(plan, route, request)
        return zero_charge()

    # -- the ledger ----------------------------------------------------------------------------

    def begin(self, plan: Plan, route: PlannedRoute, attempt: int) -> None:
        """Note the attempt before its provider call (never waits): a crash leaves an ``unknown`` row, at the quote."""
        quote = self.quote(plan, route)
        unknown = attempt_entry(
            plan,
            route,
            attempt,
            status="unknown",
            created_at=self._wall_clock(),
            error_code="outcome_unknown",
            cost_micros=quote.micros,
            cost_estimated=True,
        )
        self._ledger.begin(unknown)

    async def hold(self, plan: Plan, attempt: int, until: datetime) -> bool:
        """Keep the begun attempt's record until ``until``: its outcome may be learnt by another
        process (``record(..., resumed=True)``); whether the record is durable."""
        return await asyncio.wrap_future(self._ledger.hold(plan.request_id, attempt, until))

    def forget(self, plan: Plan, attempt: int) -> None:
        """The begun attempt never reached its provider: no row, pending or final."""
        self._ledger.forget(plan.request_id, attempt)

    def record(
        self,
        plan: Plan,
        route: PlannedRoute,
        attempt: int,
        started: float,
        *,
        result: ImageResult | None = None,
        error: ImagegateError | None = None,
        charge: Charge | None = None,
        http_status: int | None = None,
        provider_request_id: str | None = None,
        images: int | None = None,
        usage: Usage | None = None,
        client_disconnected: bool = False,
        error_code: str | None = None,
        resumed: bool = False,
    ) -> LedgerEntry:
        """Write one attempt's ledger row (off the response path) and its log line.

        ``resumed``: the attempt was begun and held by another process (``hold``); its row is
        written unless that attempt is in the ledger already.
        """
        charge = charge if charge is not None else zero_charge()
        if result is not None and result.provider_request_id is not None:
            provider_request_id = result.provider_request_id
        elif isinstance(error, ProviderError):
            if error.provider_request_id is not None:
                provider_request_id = error.provider_request_id
            http_status = error.provider_status if http_status is None else http_status
        if usage is None and result is not None:
            usage = result.usage
        if error_code is None and result is not None:
            error_code = result.failure_code  # e.g. an image tool call blocked inside a 200 answer
        if usage is None and isinstance(error, ProviderError) and error.usage is not None:
            usage = error.usage  # billed although it failed (a blocked prompt, no image)
        entry = attempt_entry(
            plan,
            route,
            attempt,
            status="ok" if error is None and error_code is None else "error",
            created_at=self._wall_clock(),
            error_code=error_code if error_code is not None else (None if error is None else error.code),
            http_status=http_status,
            images=images if images is not None else (0 if result is None else result.image_count),
            usage={} if usage is None else dict(usage.raw),
            cost_micros=charge.micros,
            cost_estimated=charge.estimated,
            latency_ms=int((self.clock() - started) * 1000),
            provider_request_id=provider_request_id,
            client_disconnected=client_disconnected,
        )
        if resumed:
            self._ledger.settle(entry)
        else:
            self._ledger.record(entry)
        for observer in self._observers:
            try:
                observer(entry)
            except Exception:
                log.exception("attempt observer %r failed on %s", observer, entry.request_id)
        # One line per attempt for operators; ids, names and numbers only, never payloads or keys.
        # The same fields ride along as ``extra`` for the JSON log format (IMAGEGATE_LOG_FORMAT=json).
        # The text is joined only when a handler formats it (off the event loop: telemetry/json_logs).
        if log.isEnabledFor(logging.INFO):
            fields = {
                "request_id": entry.request_id,
                "attempt": entry.attempt,
                "key": entry.key_name,
                "model": entry.model,
                "route": entry.route,
                "status": entry.status,
                "error": entry.error_code,
                "images": entry.images,
                "cost_micros": entry.cost_micros,
                "latency_ms": entry.latency_ms,
            }
            log.info("attempt %s", _Fields(fields), extra={"attempt": fields})
        return entry


class _Fields:
    """``name=value`` pairs, joined when the log line is formatted rather than when it is logged."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, object]) -> None:
        self._fields = fields

    def __str__(self) -> str:
        return " ".join(f"{name}={value}" for name, value in self._fields.items())
