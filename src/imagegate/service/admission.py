"""Admission in the pipeline: one ticket per admitted request, from its reservation to its settlement.

The image service calls, in this order (docs/governance.md, "Admission"):

1. ``admit`` once, before the attempt loop, with the quote of the first route (the request's upper
   bound: size, quality, n, input images...). A refusal raises before any provider is called.
2. ``before_attempt`` before every provider call, with that attempt's own quote (the route
   actually called, the part's ``n`` for a fanned-out request). What the request may still spend
   (settled attempts + attempts in flight + this one) must be held; a dearer retry or fallback
   holds the difference first, and is refused if it does not fit.
3. ``observe`` (an ``AttemptObserver``) when the attempt's ledger row is recorded: its cost (by
   the cost rule of ``service.attempts``: a failed attempt costs what the provider bills) and its
   images are what the request spent.
4. ``finish`` once, however the request ended: the holds go, the spent amounts are added.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

from imagegate.accounting.admission import Admission, AdmissionUnavailable, AttemptSpend, Reservation
from imagegate.accounting.auth import Principal
from imagegate.accounting.ports import LedgerEntry
from imagegate.domain.errors import GatewayUnavailable, RequestExceedsLimit
from imagegate.domain.limits import Headroom
from imagegate.pricing.engine import Charge

log = logging.getLogger("imagegate.admission")


@dataclass(slots=True)
class Ticket:
    """An admitted request: its reservation, what its attempts spent and what those in flight may spend."""

    reservation: Reservation
    budgeted: bool
    spent_micros: int = 0
    spent_images: int = 0
    in_flight: dict[int, tuple[int, int]] = field(default_factory=dict)
    began: dict[int, datetime] = field(default_factory=dict)
    spent: list[AttemptSpend] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class AdmissionGate:
    """Admission as the image service uses it; ``observe`` is its attempt observer."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self._tickets: dict[str, Ticket] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._settling: set[asyncio.Task[None]] = set()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop the stores run on (``swept`` is called from the ledger's thread)."""
        self._loop = loop

    def swept(self, entries: list[LedgerEntry]) -> None:
        """Attempts a crashed process never recorded, written by the sweeper at their quote: count
        them (their reservations lapsed with the lease; their cost must not). Thread-safe."""
        loop = self._loop
        if loop is None or loop.is_closed():
            log.warning("%d swept attempts not counted by admission: no event loop bound", len(entries))
            return
        asyncio.run_coroutine_threadsafe(self._count_swept(entries), loop)

    async def _count_swept(self, entries: list[LedgerEntry]) -> None:
        try:
            await self.admission.add_unrecorded(entries)
        except Exception:
            log.exception("counting %d swept attempts failed", len(entries))

    @staticmethod
    def applies(principal: Principal) -> bool:
        """Whether any limit applies to this caller (``admit`` admits the others without a ticket)."""
        return Admission.applies(principal)

    async def admit(self, request_id: str, principal: Principal, quote: Charge, images: int) -> Ticket | None:
        """Reserve the request's upper bound; None when no limit applies to this caller."""
        if not Admission.applies(principal):
            return None
        budgeted = principal.key_limits.budget_micros is not None or principal.team_limits.budget_micros is not None
        _refuse_unpriced(budgeted, quote)
        try:
            reservation = await self.admission.reserve(principal, quote.micros, images)
        except AdmissionUnavailable as exc:
            raise _unavailable(exc) from None
        ticket = Ticket(reservation, budgeted)
        self._tickets[request_id] = ticket
        return ticket

    def ticket(self, request_id: str) -> Ticket | None:
        """The ticket of an admitted request still running."""
        return self._tickets.get(request_id)

    async def before_attempt(self, ticket: Ticket, attempt: int, quote: Charge, images: int) -> None:
        """Make sure the request holds enough for this attempt too (extending the hold if needed)."""
        _refuse_unpriced(ticket.budgeted, quote)
        async with ticket.lock:
            ticket.in_flight[attempt] = (quote.micros, images)
            ticket.began[attempt] = self.admission.now()
            reservation = ticket.reservation
            flying_micros = sum(micros for micros, _ in ticket.in_flight.values())
            flying_images = sum(count for _, count in ticket.in_flight.values())
            more_micros = ticket.spent_micros + flying_micros - reservation.held_micros
            more_images = ticket.spent_images + flying_images - reservation.held_images
            try:
                await self.admission.extend(reservation, more_micros, more_images)
            except AdmissionUnavailable as exc:
                ticket.in_flight.pop(attempt, None)
                raise _unavailable(exc) from None
            except BaseException:
                ticket.in_flight.pop(attempt, None)
                raise

    def observe(self, entry: LedgerEntry) -> None:
        """The attempt observer: an attempt of an admitted request was recorded with its cost."""
        ticket = self._tickets.get(entry.request_id)
        if ticket is None:
            return
        ticket.in_flight.pop(entry.attempt, None)
        ticket.spent_micros += entry.cost_micros
        ticket.spent_images += entry.images
        began = ticket.began.pop(entry.attempt, ticket.reservation.created_at)
        ticket.spent.append(AttemptSpend(began, entry.cost_micros, entry.images))

    async def finish(self, request_id: str) -> None:
        """Settle the request: release its holds, add what it spent.

        The settlement runs in the background, off the response path (like the ledger write): the
        answer does not wait for it, and a request cut short (client gone, shutdown) still settles.
        Until it lands, the request's holds still count (too much, never too little). If it cannot
        land, the holds lapse with the lease and the spend is in the ledger for the next seed.
        """
        ticket = self._tickets.pop(request_id, None)
        if ticket is None:
            return
        task = asyncio.get_running_loop().create_task(self._settle(request_id, ticket))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle(self, request_id: str, ticket: Ticket) -> None:
        try:
            await self.admission.settle_attempts(ticket.reservation, ticket.spent)
        except Exception:
            log.exception("settling admission of %s failed; its holds lapse with the lease", request_id)

    async def drain(self) -> None:
        """Wait for every settlement still running (shutdown, tests)."""
        while self._settling:
            await asyncio.gather(*list(self._settling), return_exceptions=True)

    async def headroom(self, principal: Principal) -> Headroom | None:
        """What is left of the caller's limits, for response headers (None: no limits)."""
        if not Admission.applies(principal):
            return None
        try:
            return await self.admission.headroom(principal)
        except AdmissionUnavailable:
            return None


def _refuse_unpriced(budgeted: bool, quote: Charge) -> None:
    if budgeted and quote.unit == "unpriced":
        # An unpriced call would be free against the budget (LiteLLM #35525): refuse it instead.
        raise RequestExceedsLimit(
            "This model has no price in the catalog, so a budget cannot be enforced for it; "
            "ask the operator to add a price row.",
            code="unpriced_model",
            param="model",
        )


def _unavailable(exc: AdmissionUnavailable) -> GatewayUnavailable:
    log.warning("admission unavailable, refusing (fail closed): %s", exc)
    return GatewayUnavailable(
        "Limits cannot be checked right now; no provider was called. Retry shortly.", retry_after=1.0
    )
