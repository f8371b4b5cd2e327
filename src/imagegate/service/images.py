"""The image pipeline: try the planned routes, price what happened, record every attempt.

Every attempt that reached (or tried to reach) a provider produces exactly one ledger entry,
including attempts cut short because the client went away or the server is shutting down.
Pricing and recording live in ``service.attempts``; an open stream in ``service.stream_session``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from imagegate.accounting.ledger import LedgerWriter, utc_now
from imagegate.domain.errors import (
    CircuitOpen,
    ImagegateError,
    ProviderError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult
from imagegate.providers.base import WireResponse
from imagegate.providers.http import HttpExecutor, StreamingResponse
from imagegate.providers.skeleton import SkeletonScanner
from imagegate.routing.retry import may_fall_back, next_delay
from imagegate.service.admission import AdmissionGate
from imagegate.service.attempts import AttemptObserver, AttemptRecorder, cancelled_by_client
from imagegate.service.body_stream import BodyStream
from imagegate.service.fanout import merge_charges, merge_results
from imagegate.service.plan import Plan, PlannedRoute
from imagegate.service.provider_calls import PASSTHROUGH_MIN_BYTES, Attempt, ProviderCalls
from imagegate.service.route_guards import RouteGuards, RoutePass
from imagegate.service.served import Served
from imagegate.service.stream_session import StreamSession
from imagegate.service.submissions import Kept, Submission, SubmissionHook
from imagegate.service.submitted_tasks import PartKeeper, SubmittedTasks, resumed_order

__all__ = ["PASSTHROUGH_MIN_BYTES", "BodyStream", "ImageService", "Served", "StreamSession"]

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
        observers: Sequence[AttemptObserver] = (),
        admission: AdmissionGate | None = None,
        passthrough: bool = True,
        passthrough_min_bytes: int = PASSTHROUGH_MIN_BYTES,
    ) -> None:
        self._passthrough = passthrough
        self._calls = ProviderCalls(http, passthrough_min_bytes=passthrough_min_bytes)
        self._guards = guards if guards is not None else RouteGuards()
        self._clock = clock
        self.admission = admission
        if admission is not None:
            observers = (*observers, admission.observe)
        self.recorder = AttemptRecorder(ledger, clock=clock, wall_clock=wall_clock, observers=observers)
        self.tasks = SubmittedTasks(self._calls.poller, self.recorder, clock=clock, wall_clock=wall_clock)

    # -- admission -----------------------------------------------------------------------

    async def _admit(self, plan: Plan) -> bool:
        """Reserve the request's upper bound (first route's quote) before any attempt; whether admitted with limits."""
        if self.admission is None:
            return False
        route = plan.routes[0]
        request = route.request_for(plan.request)
        ticket = await self.admission.admit(
            plan.request_id, plan.principal, self.recorder.quote(plan, route, request), request.image_count
        )
        return ticket is not None

    async def _before_attempt(self, plan: Plan, route: PlannedRoute, attempt: int, n: int | None) -> None:
        """Hold enough for this attempt on the route actually called (a retry or fallback re-quotes)."""
        if self.admission is None:
            return
        ticket = self.admission.ticket(plan.request_id)
        if ticket is None:
            return
        request = route.request_for(plan.request)
        if n is not None:
            request = dataclasses.replace(request, n=n)
        await self.admission.before_attempt(
            ticket, attempt, self.recorder.quote(plan, route, request), request.image_count
        )

    async def _finish(self, plan: Plan) -> None:
        if self.admission is not None:
            await self.admission.finish(plan.request_id)

    # -- the attempt loop ----------------------------------------------------------------

    async def _first_success(
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
                self.recorder.begin(plan, route, attempt)
            record = functools.partial(self.recorder.record, resumed=resume is not None)
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
                    charge=self.recorder.quote(plan, route),
                    provider_request_id=seen.task_id,
                )
                await self._guards.observe(route_pass, self._clock() - started, error)
                raise error from None
            except ProviderError as error:
                record(plan, route, attempt, started, error=error, charge=self.recorder.for_error(plan, route, error))
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
                    charge=self.recorder.quote(plan, route),
                    client_disconnected=by_client,
                    provider_request_id=seen.task_id,
                )
                raise
            except ImagegateError:
                if seen.resume is None:
                    self.recorder.forget(plan, attempt)
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
                    charge=self.recorder.quote(plan, route),
                    provider_request_id=seen.task_id,
                )
                raise
            await self._guards.observe(route_pass, self._clock() - started)
            return _Attempted(value, route, attempt, started)

    async def serve(
        self,
        plan: Plan,
        *,
        keep_raw_for: str | None,
        submissions: SubmissionHook | None = None,
        resume: Kept | None = None,
    ) -> Served:
        """Serve a plain (non-streamed) request.

        ``keep_raw_for`` is the client's dialect: a provider speaking it keeps its raw body for
        forwarding unchanged. When the route's model makes fewer images per call than asked
        (``PlannedRoute.chunks``), the parts run in parallel, each with its own ledger rows.
        ``submissions`` is told of each task a submit-and-poll host accepts, before it is polled
        (``service.submissions``; fanned-out parts keep theirs through a ``PartKeeper``).
        ``resume``: what was kept so before a restart: see ``resume``.
        """
        await self._admit(plan)
        try:
            return await self._serve_parts(plan, keep_raw_for=keep_raw_for, submissions=submissions, resume=resume)
        finally:
            await self._finish(plan)

    async def resume(self, plan: Plan, submission: Kept, submissions: SubmissionHook | None = None) -> Served:
        """Serve ``plan`` (``plan.request_id`` is the submission's) carrying on from a task accepted
        before a restart: the same attempt loop, its first attempt polling that task on its route
        (the route's timeout counting from now), then, if the task failed, the retries and
        fallbacks the run had left, numbered on from it (``service.submitted_tasks``). A
        fanned-out request resumes each part so; a part with no task kept runs again."""
        return await self.serve(plan, keep_raw_for=None, submissions=submissions, resume=submission)

    async def _serve_parts(
        self,
        plan: Plan,
        *,
        keep_raw_for: str | None,
        submissions: SubmissionHook | None,
        resume: Kept | None = None,
    ) -> Served:
        chunks = plan.routes[0].chunks
        if isinstance(resume, Submission) or (chunks is None and resume is None):
            return await self._serve_part(
                plan, keep_raw_for=keep_raw_for, n=None, attempts=None, submissions=submissions, resume=resume
            )
        counts = resume.counts if resume is not None else chunks
        assert counts is not None
        kept = None if submissions is None else PartKeeper(submissions, plan.request_id, counts, resume)
        attempts = itertools.count(1 if resume is None else resume.attempts + 1)
        parts = await asyncio.gather(
            *(
                self._serve_part(
                    plan,
                    keep_raw_for=None,
                    n=count,
                    attempts=attempts,
                    submissions=None if kept is None else kept.part(index),
                    resume=None if resume is None else resume.parts[index],
                )
                for index, count in enumerate(counts)
            ),
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
        self,
        plan: Plan,
        *,
        keep_raw_for: str | None,
        n: int | None,
        attempts: Iterator[int] | None,
        submissions: SubmissionHook | None = None,
        resume: Submission | None = None,
    ) -> Served:
        def request_for(route: PlannedRoute) -> ImageRequest:
            request = route.request_for(plan.request)
            return request if n is None else dataclasses.replace(request, n=n)

        async def drop_earlier_task(attempt: Attempt) -> None:
            # Before the attempt is noted: a crash after it must not resume a task that is over
            # (and a resumed run's next attempt number is then free).
            if submissions is None or attempt.resume is not None:
                return
            if submissions.starting is not None:
                await submissions.starting(attempt.number)
            elif attempt.number > 1:
                await submissions.record(None)

        async def call(route: PlannedRoute, attempt: Attempt) -> tuple[WireResponse, ImageResult]:
            keep_raw = keep_raw_for == route.adapter.dialect
            if attempt.resume is not None:
                return await self._calls.resume(route, request_for(route), keep_raw=keep_raw, attempt=attempt)
            keeper = None if submissions is None else self.tasks.keeper(plan, route, attempt, submissions)
            return await self._calls.exchange(
                route, request_for(route), keep_raw=keep_raw, attempt=attempt, keeper=keeper
            )

        (response, result), route, attempt, started = await self._first_success(
            plan, call, attempts, n, resume, drop_earlier_task
        )
        charge = self.recorder.settle(plan, route, result, request_for(route))
        resumed = resume is not None and attempt == resume.attempt  # the kept task's own outcome
        self.recorder.record(
            plan, route, attempt, started, result=result, charge=charge, http_status=response.status, resumed=resumed
        )
        return Served(result=result, route=route, charge=charge, attempt=attempt)

    async def serve_passthrough(self, plan: Plan, *, dialect: str) -> Served | BodyStream:
        """Serve a plain request whose answer may go to the client as it arrives.

        A route that speaks the client's ``dialect`` and whose adapter scans bodies
        (``body_scanner``) answers with a ``BodyStream``: its 2xx body is forwarded unchanged as
        it arrives and recorded when it ends, unless its declared length is at most
        ``passthrough_min_bytes`` (then it is read whole). Any other route (a translation, a polled
        host), a fanned-out request, and every request when pass-through is off (``passthrough``),
        is served whole as by ``serve``. Failures before the body (error
        answers, connection failures) are retried and fallen back on as usual.
        """
        if not self._passthrough or plan.routes[0].chunks is not None:
            return await self.serve(plan, keep_raw_for=dialect)

        async def call(
            route: PlannedRoute, attempt: Attempt
        ) -> tuple[WireResponse, ImageResult] | tuple[StreamingResponse, SkeletonScanner]:
            request = route.request_for(plan.request)
            speaks = route.adapter.dialect == dialect
            scanner = route.adapter.body_scanner(request) if speaks else None
            if scanner is None:
                return await self._calls.exchange(route, request, keep_raw=speaks, attempt=attempt)
            opened = await self._calls.open(route, request)
            if not self._calls.small(opened):
                return opened, scanner
            return await self._calls.read_whole(route, request, opened)

        admitted = await self._admit(plan)
        try:
            (answer, read), route, attempt, started = await self._first_success(plan, call)
        except BaseException:
            await self._finish(plan)
            raise
        if isinstance(answer, StreamingResponse) and isinstance(read, SkeletonScanner):
            on_close = (lambda: self._finish(plan)) if admitted else None
            return BodyStream(self.recorder, plan, route, attempt, started, answer, read, on_close=on_close)
        try:
            assert isinstance(answer, WireResponse) and isinstance(read, ImageResult)
            charge = self.recorder.settle(plan, route, read)
            self.recorder.record(plan, route, attempt, started, result=read, charge=charge, http_status=answer.status)
            return Served(result=read, route=route, charge=charge, attempt=attempt)
        finally:
            await self._finish(plan)

    async def open_stream(self, plan: Plan) -> StreamSession:
        """Connect to the first route that answers 2xx; errors before that raise as usual."""

        async def call(route: PlannedRoute, attempt: Attempt) -> StreamingResponse:
            return await self._calls.open(route, route.request_for(plan.request))

        admitted = await self._admit(plan)
        try:
            opened, route, attempt, started = await self._first_success(plan, call)
        except BaseException:
            await self._finish(plan)
            raise
        on_close = (lambda: self._finish(plan)) if admitted else None
        return StreamSession(self.recorder, plan, route, attempt, started, opened, on_close=on_close)
