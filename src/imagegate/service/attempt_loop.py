"""The attempt loop: try a plan's routes in policy order, with retries and fallbacks, until one succeeds.

Every attempt is noted before its call (crash-safe recording) and recorded after it, whatever
its outcome; what is called is the caller's business (``call``): a whole answer, an opened
stream, or a kept task polled after a restart (``resume``). ``ImageService`` runs every kind of
request through this one loop.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from imagegate.domain.errors import (
    CircuitOpen,
    ImagegateError,
    ProviderError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from imagegate.routing.retry import may_fall_back, next_delay
from imagegate.service.attempts import AttemptRecorder, cancelled_by_client
from imagegate.service.plan import Plan, PlannedRoute
from imagegate.service.provider_calls import Attempt
from imagegate.service.route_guards import RouteGuards, RoutePass
from imagegate.service.submissions import Submission
from imagegate.service.submitted_tasks import resumed_order

log = logging.getLogger("imagegate.service")

T = TypeVar("T")
Prepare = Callable[[Attempt], Awaitable[None]]


@dataclass(slots=True)
class _Attempted(Generic[T]):
    """A successful call and where it happened."""

    value: T
    route: PlannedRoute
    attempt: int
    started: float


BeforeAttempt = Callable[[Plan, PlannedRoute, int, int | None], Awaitable[None]]


class AttemptLoop:
    """Runs one request's attempts (see the module docstring)."""

    def __init__(
        self,
        recorder: AttemptRecorder,
        guards: RouteGuards,
        *,
        clock: Callable[[], float],
        before_attempt: BeforeAttempt,
    ) -> None:
        self._recorder = recorder
        self._guards = guards
        self._clock = clock
        self._before_attempt = before_attempt

    async def first_success(
        self,
        plan: Plan,
        call: Callable[[PlannedRoute, Attempt], Awaitable[T]],
        attempts: Iterator[int] | None = None,
        n: int | None = None,
        resume: Submission | None = None,
        prepare: Prepare | None = None,
    ) -> tuple[T, PlannedRoute, int, float]:
        """Try the routes in policy order until one succeeds; every attempt is recorded.

        Per route: retryable failures are retried with backoff (or the provider's own hint) while
        the alias's deadline leaves room; then the next route is tried if the error allows a
        fallback. Routes whose breaker is open are skipped without a call; when every route was
        skipped so, ``CircuitOpen`` says when to come back. A cancelled attempt (client gone,
        server stopping) is recorded at its quote before the cancellation propagates, and nothing
        is retried after it. ``attempts`` numbers the attempts (shared by fanned-out parts);
        ``n`` is a fanned-out part's image count. ``resume``: a task accepted before a restart;
        the loop carries on from it (its attempt polls the task, then retries and fallbacks as
        the run it continues had left them; the deadline counts from now). ``prepare`` runs
        before each attempt is noted (``AttemptRecorder.begin``) and sent.
        """
        if attempts is None:
            attempts = itertools.count(1 if resume is None else resume.attempt + 1)
        deadline = self._clock() + plan.alias.retry.deadline_s
        routes = self._guards.ordered(plan)
        if resume is not None:
            routes = resumed_order(plan, routes, resume)
        if not routes:
            raise UpstreamUnavailable(f"Every route of model '{plan.alias.name}' is disabled or unavailable.")
        last_error: ProviderError | None = None
        reopen_in: list[float] = []
        tried: tuple[str, ...] = () if resume is None else resume.tried
        for route in routes:
            # The pass hands back an unused half-open probe slot on every way out of this block.
            async with self._guards.admitted(route) as route_pass:
                if not route_pass.allowed and resume is None:
                    retry_after = route_pass.admission.retry_after_s
                    reopen_in.append(1.0 if retry_after is None else retry_after)
                    tried = (*tried, route.target.name)
                    continue
                outcome = await self._try_route(plan, route_pass, call, attempts, deadline, n, tried, resume, prepare)
            resume = None  # only the first route polls a kept task
            tried = (*tried, route.target.name)
            if isinstance(outcome, ProviderError):
                last_error = outcome
                continue
            return outcome.value, outcome.route, outcome.attempt, outcome.started
        if last_error is not None:
            raise last_error
        retry_after = min(reopen_in)
        # Expected under a provider outage: one line, no traceback.
        log.warning(
            "circuit open request_id=%s model=%s routes=%d retry_after_s=%.1f",
            plan.request_id,
            plan.alias.name,
            len(routes),
            retry_after,
        )
        raise CircuitOpen(
            f"Every route of model '{plan.alias.name}' is unavailable (circuit open); try again later.",
            retry_after=retry_after,
        )

    async def _try_route(
        self,
        plan: Plan,
        route_pass: RoutePass,
        call: Callable[[PlannedRoute, Attempt], Awaitable[T]],
        attempts: Iterator[int],
        deadline: float,
        n: int | None = None,
        tried: tuple[str, ...] = (),
        resume: Submission | None = None,
        prepare: Prepare | None = None,
    ) -> _Attempted[T] | ProviderError:
        """Call one route (with its retries): the success, or the error to fall back after; raises otherwise.

        With ``resume`` the first attempt polls that kept task (its held record settled once,
        ``resumed``) and the retries count on from the run it continues."""
        route = route_pass.route
        policy = plan.alias.retry
        retry_number = 0 if resume is None else resume.retries
        while True:
            attempt = next(attempts) if resume is None else resume.attempt
            await self._before_attempt(plan, route, attempt, n)
            # ``resume``: the kept task's attempt, begun and held by the process that died.
            seen = Attempt(attempt, retries=retry_number, tried=tried, resume=None if resume is None else resume.task)
            if prepare is not None:
                await prepare(seen)
            started = self._clock()
            if resume is None:
                self._recorder.begin(plan, route, attempt)
            record = functools.partial(self._recorder.record, resumed=resume is not None)
            resume = None
            try:
                async with asyncio.timeout(max(0.0, deadline - started)):
                    value = await call(route, seen)
            except TimeoutError:
                error: ProviderError = UpstreamTimeout(f"the request's deadline of {policy.deadline_s:g} s passed")
                record(
                    plan,
                    route,
                    attempt,
                    started,
                    error=error,
                    charge=self._recorder.quote(plan, route),
                    provider_request_id=seen.task_id,
                )
                await self._guards.observe(route_pass, self._clock() - started, error)
                raise error from None
            except ProviderError as error:
                record(plan, route, attempt, started, error=error, charge=self._recorder.for_error(plan, route, error))
                await self._guards.observe(route_pass, self._clock() - started, error)
                retry_number += 1
                delay = next_delay(policy, error, retry_number, deadline - self._clock())
                if delay is not None:
                    await asyncio.sleep(delay)
                    continue
                if not may_fall_back(policy, error):
                    raise
                return error
            except asyncio.CancelledError as cancelled:
                # Cut short mid-call; the provider may still finish and bill. Never retried.
                by_client = cancelled_by_client(cancelled)
                record(
                    plan,
                    route,
                    attempt,
                    started,
                    error_code="client_disconnected" if by_client else "cancelled",
                    charge=self._recorder.quote(plan, route),
                    client_disconnected=by_client,
                    provider_request_id=seen.task_id,
                )
                raise
            except ImagegateError:
                if seen.resume is None:
                    self._recorder.forget(plan, attempt)
                raise  # the caller's request, refused before anything was sent: no attempt
            except Exception:
                # A gateway fault mid-attempt; whether the provider was reached is unknown, so it is recorded.
                log.exception("attempt %d of %s on route %s failed", attempt, plan.request_id, route.target.name)
                record(
                    plan,
                    route,
                    attempt,
                    started,
                    error_code="internal_error",
                    charge=self._recorder.quote(plan, route),
                    provider_request_id=seen.task_id,
                )
                raise
            await self._guards.observe(route_pass, self._clock() - started)
            return _Attempted(value, route, attempt, started)
