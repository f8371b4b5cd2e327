"""The image pipeline: try the planned routes, price what happened, record every attempt.

Every attempt that reached (or tried to reach) a provider produces exactly one ledger entry,
including attempts cut short because the client went away or the server is shutting down.
The loop over routes, retries and fallbacks is ``service.attempt_loop``; pricing and recording live
in ``service.attempts``; an open stream in ``service.stream_session``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from imagegate.accounting.ledger import LedgerWriter, utc_now
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult
from imagegate.providers.base import WireResponse
from imagegate.providers.http import HttpExecutor, StreamingResponse
from imagegate.providers.skeleton import SkeletonScanner
from imagegate.service.admission import AdmissionGate
from imagegate.service.attempt_loop import AttemptLoop
from imagegate.service.attempts import AttemptObserver, AttemptRecorder
from imagegate.service.body_stream import BodyStream
from imagegate.service.drains import Drains
from imagegate.service.fanout import merge_charges, merge_results
from imagegate.service.plan import Plan, PlannedRoute
from imagegate.service.provider_calls import PASSTHROUGH_MIN_BYTES, Attempt, ProviderCalls
from imagegate.service.route_guards import RouteGuards
from imagegate.service.served import Served
from imagegate.service.stream_session import StreamSession
from imagegate.service.submissions import Kept, Submission, SubmissionHook
from imagegate.service.submitted_tasks import PartKeeper, SubmittedTasks

__all__ = ["PASSTHROUGH_MIN_BYTES", "BodyStream", "ImageService", "Served", "StreamSession"]

log = logging.getLogger("imagegate.service")


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
        # Answers read on after their client left (cancelled at shutdown: ``drains.close()``).
        self.drains = Drains()
        if admission is not None:
            observers = (*observers, admission.observe)
        self.recorder = AttemptRecorder(ledger, clock=clock, wall_clock=wall_clock, observers=observers)
        self.tasks = SubmittedTasks(self._calls.poller, self.recorder, clock=clock, wall_clock=wall_clock)
        self._loop = AttemptLoop(self.recorder, self._guards, clock=clock, before_attempt=self._before_attempt)

    # -- admission -----------------------------------------------------------------------

    async def _admit(self, plan: Plan) -> bool:
        """Reserve the request's upper bound (first route's quote) before any attempt; whether admitted with limits."""
        if self.admission is None or not self.admission.applies(plan.principal):
            return False  # no limit applies: nothing to reserve, so nothing to quote
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

        (response, result), route, attempt, started = await self._loop.first_success(
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
            (answer, read), route, attempt, started = await self._loop.first_success(plan, call)
        except BaseException:
            await self._finish(plan)
            raise
        if isinstance(answer, StreamingResponse) and isinstance(read, SkeletonScanner):
            on_close = (lambda: self._finish(plan)) if admitted else None
            return BodyStream(
                self.recorder, plan, route, attempt, started, answer, read, on_close=on_close, drains=self.drains
            )
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
            opened, route, attempt, started = await self._loop.first_success(plan, call)
        except BaseException:
            await self._finish(plan)
            raise
        on_close = (lambda: self._finish(plan)) if admitted else None
        return StreamSession(
            self.recorder, plan, route, attempt, started, opened, on_close=on_close, drains=self.drains
        )
