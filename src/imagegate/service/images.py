"""The image pipeline: try the planned routes, price what happened, record every attempt.

Every attempt that reached (or tried to reach) a provider produces exactly one ledger entry,
including attempts cut short because the client went away or the server is shutting down.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from imagegate.accounting.ledger import LedgerWriter, utc_now
from imagegate.accounting.ports import LedgerEntry
from imagegate.domain.errors import (
    ImagegateError,
    ProviderError,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult, StreamEvent, Usage
from imagegate.pricing.engine import Charge, quote, settle
from imagegate.providers.base import WireRequest, WireResponse
from imagegate.providers.http import HttpExecutor, StreamingResponse
from imagegate.routing.retry import may_fall_back, next_delay
from imagegate.service.fanout import add_usage, merge_charges, merge_results
from imagegate.service.plan import Plan, PlannedRoute
from imagegate.service.route_guards import RouteGuards

log = logging.getLogger("imagegate.service")

T = TypeVar("T")


@dataclass(slots=True)
class Served:
    """A request served: the result, the route that served it, and what it cost."""

    result: ImageResult
    route: PlannedRoute
    charge: Charge
    attempt: int


def _zero_charge() -> Charge:
    return Charge(micros=0, estimated=False, breakdown={}, unit="none")


def _unpriced() -> Charge:
    return Charge(micros=0, estimated=True, breakdown={}, unit="unpriced")


def _attempt_entry(plan: Plan, route: PlannedRoute, attempt: int, **outcome: Any) -> LedgerEntry:
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
        stream=plan.request.stream,
        **outcome,
    )


class ImageService:
    """Runs plans against providers and keeps the ledger."""

    def __init__(
        self,
        *,
        http: HttpExecutor,
        ledger: LedgerWriter,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = utc_now,
        guards: RouteGuards | None = None,
    ) -> None:
        self._http = http
        self._ledger = ledger
        self._guards = guards if guards is not None else RouteGuards()
        self._clock = clock
        self._wall_clock = wall_clock

    # -- pricing helpers -------------------------------------------------------------------

    def _settle(
        self, plan: Plan, route: PlannedRoute, result: ImageResult, request: ImageRequest | None = None
    ) -> Charge:
        if route.price is None:
            return _unpriced()
        try:
            return settle(request if request is not None else route.request_for(plan.request), result, route.price)
        except Exception:
            # A pricing bug must never cost a ledger row: record it unpriced, loudly.
            log.exception("settling %s on route %s failed", plan.request_id, route.target.name)
            return _unpriced()

    def _quote(self, plan: Plan, route: PlannedRoute) -> Charge:
        if route.price is None:
            return _unpriced()
        try:
            return dataclasses.replace(quote(route.request_for(plan.request), route.price), estimated=True)
        except Exception:
            log.exception("quoting %s on route %s failed", plan.request_id, route.target.name)
            return _unpriced()

    # -- ledger ------------------------------------------------------------------------------

    def _record(
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
        images: int | None = None,
        usage: Usage | None = None,
        client_disconnected: bool = False,
        error_code: str | None = None,
    ) -> None:
        charge = charge if charge is not None else _zero_charge()
        provider_request_id = None
        if result is not None:
            provider_request_id = result.provider_request_id
        elif isinstance(error, ProviderError):
            provider_request_id = error.provider_request_id
            http_status = error.provider_status if http_status is None else http_status
        if usage is None and result is not None:
            usage = result.usage
        if usage is None and isinstance(error, ProviderError) and error.usage is not None:
            usage = error.usage  # billed although it failed (a blocked prompt, no image)
        entry = _attempt_entry(
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
            latency_ms=int((self._clock() - started) * 1000),
            provider_request_id=provider_request_id,
            client_disconnected=client_disconnected,
        )
        self._ledger.record(entry)
        # One line per attempt for operators; ids, names and numbers only, never payloads or keys.
        log.info(
            "attempt request_id=%s attempt=%d key=%s model=%s route=%s status=%s error=%s images=%d cost_micros=%d latency_ms=%d",
            entry.request_id,
            entry.attempt,
            entry.key_name,
            entry.model,
            entry.route,
            entry.status,
            entry.error_code,
            entry.images,
            entry.cost_micros,
            entry.latency_ms,
        )

    async def _begin(self, plan: Plan, route: PlannedRoute, attempt: int) -> None:
        """Durably note the attempt before its provider call: a crash leaves an ``unknown`` row, at the quote."""
        quote = self._quote(plan, route)
        unknown = _attempt_entry(
            plan,
            route,
            attempt,
            status="unknown",
            created_at=self._wall_clock(),
            error_code="outcome_unknown",
            cost_micros=quote.micros,
            cost_estimated=True,
        )
        await self._ledger.begin(unknown)

    # -- the attempt loop ----------------------------------------------------------------

    async def _first_success(
        self, plan: Plan, call: Callable[[PlannedRoute], Awaitable[T]], attempts: Iterator[int] | None = None
    ) -> tuple[T, PlannedRoute, int, float]:
        """Try the routes in policy order until one succeeds; every attempt is recorded.

        Per route: retryable failures are retried with backoff (or the provider's own hint) while
        the alias's deadline leaves room; then the next route is tried if the error allows a
        fallback. Routes whose breaker is open are skipped without a call. A cancelled attempt
        (client gone, server stopping) is recorded at its quoted upper bound before the
        cancellation propagates. ``attempts`` numbers the attempts (shared by fanned-out parts).
        """
        attempts = itertools.count(1) if attempts is None else attempts
        policy = plan.alias.retry
        deadline = self._clock() + policy.deadline_s
        routes = self._guards.ordered(plan)
        if not routes:
            raise UpstreamUnavailable(f"Every route of model '{plan.alias.name}' is disabled or unavailable.")
        last_error: ProviderError | None = None
        for route in routes:
            if not await self._guards.admit(route):
                if last_error is None:
                    last_error = UpstreamUnavailable(f"Route '{route.target.name}' is unavailable (circuit open).")
                continue
            retry_number = 0
            while True:
                attempt = next(attempts)
                started = self._clock()
                await self._begin(plan, route, attempt)
                try:
                    async with asyncio.timeout(max(0.0, deadline - started)):
                        value = await call(route)
                except TimeoutError:
                    error: ProviderError = UpstreamTimeout(f"the request's deadline of {policy.deadline_s:g} s passed")
                    self._record(plan, route, attempt, started, error=error, charge=self._quote(plan, route))
                    await self._guards.observe(route, self._clock() - started, error)
                    raise error from None
                except ProviderError as error:
                    self._record(
                        plan, route, attempt, started, error=error, charge=self._error_charge(plan, route, error)
                    )
                    await self._guards.observe(route, self._clock() - started, error)
                    last_error = error
                    retry_number += 1
                    delay = next_delay(policy, error, retry_number, deadline - self._clock())
                    if delay is not None:
                        await asyncio.sleep(delay)
                        continue
                    if not may_fall_back(policy, error):
                        raise
                    break
                except asyncio.CancelledError:
                    self._record(
                        plan,
                        route,
                        attempt,
                        started,
                        error_code="cancelled",
                        charge=self._quote(plan, route),
                        client_disconnected=True,
                    )
                    raise
                await self._guards.observe(route, self._clock() - started)
                return value, route, attempt, started
        assert last_error is not None
        raise last_error

    def _error_charge(self, plan: Plan, route: PlannedRoute, error: ProviderError) -> Charge | None:
        """What a failed attempt cost when the provider billed it anyway (reported usage)."""
        if error.usage is None:
            return None
        return self._settle(plan, route, ImageResult(image_count=0, usage=error.usage))

    async def _wire(self, route: PlannedRoute, request: ImageRequest) -> WireRequest:
        wire = route.adapter.to_wire(request, route.target)
        # The one adapter hook that may do I/O: OAuth tokens for routes that need them.
        authorize = getattr(route.adapter, "authorize", None)
        if authorize is not None:
            await authorize(wire, route.target, self._http)
        return wire

    async def serve(self, plan: Plan, *, keep_raw_for: str | None) -> Served:
        """Serve a plain (non-streamed) request.

        ``keep_raw_for`` is the client's dialect: a provider speaking it keeps its raw body for
        forwarding unchanged. When the route's model makes fewer images per call than asked
        (``PlannedRoute.chunks``), the parts run in parallel, each with its own ledger rows.
        """
        chunks = plan.routes[0].chunks
        if chunks is None:
            return await self._serve_part(plan, keep_raw_for=keep_raw_for, n=None, attempts=None)
        attempts = itertools.count(1)
        parts = await asyncio.gather(
            *(self._serve_part(plan, keep_raw_for=None, n=count, attempts=attempts) for count in chunks),
            return_exceptions=True,
        )
        for part in parts:
            if isinstance(part, BaseException):
                raise part  # never fewer images than asked: every part ran and is in the ledger
        served = [part for part in parts if isinstance(part, Served)]
        return Served(
            result=merge_results([part.result for part in served]),
            route=served[0].route,
            charge=merge_charges([part.charge for part in served]),
            attempt=max(part.attempt for part in served),
        )

    async def _serve_part(
        self, plan: Plan, *, keep_raw_for: str | None, n: int | None, attempts: Iterator[int] | None
    ) -> Served:
        def request_for(route: PlannedRoute) -> ImageRequest:
            request = route.request_for(plan.request)
            return request if n is None else dataclasses.replace(request, n=n)

        async def call(route: PlannedRoute) -> tuple[WireResponse, ImageResult]:
            request = request_for(route)
            wire = await self._wire(route, request)
            response = await self._http.send(wire, timeout_s=route.target.timeout_s)
            if response.status >= 300:
                raise route.adapter.error_from_wire(response)
            keep_raw = keep_raw_for == route.adapter.dialect
            return response, route.adapter.from_wire(response, request, route.target, keep_raw=keep_raw)

        (response, result), route, attempt, started = await self._first_success(plan, call, attempts)
        charge = self._settle(plan, route, result, request_for(route))
        self._record(plan, route, attempt, started, result=result, charge=charge, http_status=response.status)
        return Served(result=result, route=route, charge=charge, attempt=attempt)

    async def open_stream(self, plan: Plan) -> StreamSession:
        """Connect to the first route that answers 2xx; errors before that raise as usual."""

        async def call(route: PlannedRoute) -> StreamingResponse:
            wire = await self._wire(route, route.request_for(plan.request))
            opened = await self._http.open(wire, timeout_s=route.target.timeout_s)
            if opened.status >= 300:
                try:
                    body = await opened.read()
                finally:
                    await opened.aclose()
                raise route.adapter.error_from_wire(
                    WireResponse(status=opened.status, headers=opened.headers, body=body)
                )
            return opened

        opened, route, attempt, started = await self._first_success(plan, call)
        return StreamSession(self, plan, route, attempt, started, opened)


class StreamSession:
    """An open provider stream. Iterate ``events()`` exactly once; it records the attempt."""

    def __init__(
        self,
        service: ImageService,
        plan: Plan,
        route: PlannedRoute,
        attempt: int,
        started: float,
        opened: StreamingResponse,
    ) -> None:
        self.service = service
        self.plan = plan
        self.route = route
        self.attempt = attempt
        self._started = started
        self._opened = opened

    @property
    def provider_request_id(self) -> str | None:
        """The provider's id for this request, from its response headers."""
        return self._opened.headers.get("x-request-id")

    async def events(self) -> AsyncIterator[StreamEvent]:
        """The provider's events as they arrive; the ledger entry is written when this ends."""
        route = self.route
        completed = 0
        usage_raw: dict[str, object] = {}
        totals = Usage()
        running: Usage | None = None
        error: ImagegateError | None = None
        disconnected = False
        try:
            async for event in route.adapter.stream_events(self._opened.aiter_bytes()):
                if event.kind == "completed":
                    completed += 1 if event.image_count is None else event.image_count
                    if event.usage is not None:
                        usage_raw = event.usage.raw
                        totals = add_usage(totals, event.usage)
                elif event.kind == "error" and isinstance(event.error, ImagegateError):
                    error = event.error
                if event.usage_total is not None:
                    running = event.usage_total  # a running total: the last one is the request's
                    usage_raw = running.raw
                yield event
            if completed == 0 and error is None:
                error = UpstreamBadResponse("the provider's stream ended without a completed image")
        except ProviderError as exc:
            error = exc
            raise
        except (asyncio.CancelledError, GeneratorExit):
            disconnected = True
            raise
        finally:
            # Record first: during cancellation any await below may be interrupted.
            if running is not None:
                totals = add_usage(totals, running)
            self._finish(completed, usage_raw, totals, error, disconnected)
            await self._opened.aclose()

    def _finish(
        self,
        completed: int,
        usage_raw: dict[str, object],
        totals: Usage,
        error: ImagegateError | None,
        disconnected: bool,
    ) -> None:
        service, plan, route = self.service, self.plan, self.route
        totals.raw = dict(usage_raw)
        if completed > 0:
            result = ImageResult(image_count=completed, usage=totals, provider_request_id=self.provider_request_id)
            charge = service._settle(plan, route, result)
        elif disconnected:
            # The provider may well finish and bill; the upper bound is the honest estimate.
            charge = service._quote(plan, route)
        elif isinstance(error, ProviderError) and error.usage is not None:
            charge = service._settle(plan, route, ImageResult(image_count=0, usage=totals))
        else:
            charge = _zero_charge()
        service._record(
            plan,
            route,
            self.attempt,
            self._started,
            error=error,
            charge=charge,
            http_status=self._opened.status,
            images=completed,
            usage=totals,
            client_disconnected=disconnected,
            error_code="client_disconnected" if disconnected and error is None and completed == 0 else None,
        )
