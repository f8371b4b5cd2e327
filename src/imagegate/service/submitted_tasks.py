"""Tasks a submit-and-poll host accepted for a caller that outlives its process (a job).

``ImageService.serve`` keeps each accepted task through the caller's ``SubmissionHook``
(``keeper``: the attempt's ledger record is held first, then the task recorded, both before the
first poll). After a restart, ``resume`` polls the task to its end on the same route, and
``call_off`` cancels it at the host for a job cancelled while nobody ran it. Either records the
attempt once, under its own request id and number (``AttemptRecorder.record(..., resumed=True)``):
the held record is dropped in the same transaction, and an attempt the sweeper already wrote as
``unknown`` is not written again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from imagegate.domain.errors import ProviderError, UpstreamUnavailable
from imagegate.providers.accepted_task import AcceptedTask, TaskAccepted
from imagegate.providers.polling import Poller
from imagegate.service.attempts import AttemptRecorder
from imagegate.service.plan import Plan, PlannedRoute
from imagegate.service.served import Served
from imagegate.service.submissions import Submission, SubmissionHook
from imagegate.service.wire_parse import image_result

log = logging.getLogger("imagegate.service")

Admit = Callable[[Plan], Awaitable[object]]
BeforeAttempt = Callable[[Plan, PlannedRoute, int, int | None], Awaitable[None]]
Finish = Callable[[Plan], Awaitable[None]]


class SubmittedTasks:
    """Keep, resume and call off accepted tasks (see the module docstring)."""

    def __init__(
        self,
        poller: Poller,
        recorder: AttemptRecorder,
        *,
        admit: Admit,
        before_attempt: BeforeAttempt,
        finish: Finish,
        clock: Callable[[], float],
    ) -> None:
        self._poller = poller
        self._recorder = recorder
        self._admit = admit
        self._before_attempt = before_attempt
        self._finish = finish
        self._clock = clock

    def keeper(self, plan: Plan, route: PlannedRoute, attempt: int, hook: SubmissionHook) -> TaskAccepted:
        """The ``on_accepted`` of one attempt: hold its ledger record, then hand the task to ``hook``."""

        async def accepted(task: AcceptedTask) -> None:
            await self._recorder.hold(plan, attempt, hook.hold_until)
            await hook.record(Submission(plan.request_id, attempt, route.target.name, task.document()))

        return accepted

    async def resume(self, plan: Plan, submission: Submission) -> Served:
        """Poll a task accepted before a restart (``plan.request_id`` is the submission's) to its end.

        Served like the attempt it continues: same route, admission and pricing, and one ledger
        row under the attempt's own number. The route's timeout counts from now.
        """
        route = _route_of(plan, submission)
        request = route.request_for(plan.request)
        accepted = AcceptedTask.from_document(submission.task)
        attempt, record = submission.attempt, self._recorder.record
        await self._admit(plan)
        try:
            await self._before_attempt(plan, route, attempt, None)
            started = self._clock()
            try:
                response = await self._poller.resume(route.adapter, accepted, route.target)
                result = image_result(route, request, response, keep_raw=False)
            except ProviderError as error:
                charge = self._recorder.for_error(plan, route, error, request)
                record(plan, route, attempt, started, error=error, charge=charge, resumed=True)
                raise
            except BaseException as leaving:
                # Cut short, or a gateway fault: the host may have finished (and billed) it.
                cancelled = isinstance(leaving, asyncio.CancelledError)
                if not cancelled:
                    log.exception("resuming attempt %d of %s failed", attempt, plan.request_id)
                code, charge = ("cancelled" if cancelled else "internal_error"), self._recorder.quote(plan, route)
                record(plan, route, attempt, started, error_code=code, charge=charge, resumed=True)
                raise
            charge = self._recorder.settle(plan, route, result, request)
            record(
                plan, route, attempt, started, result=result, charge=charge, http_status=response.status, resumed=True
            )
            return Served(result=result, route=route, charge=charge, attempt=attempt)
        finally:
            await self._finish(plan)

    async def call_off(self, plan: Plan, submission: Submission) -> None:
        """Cancel the task at its host (where the host has a cancel call) and record its attempt
        as cancelled, at the quote (the host may have billed part of it)."""
        route = _route_of(plan, submission)
        started = self._clock()
        await self._poller.call_off(route.adapter, AcceptedTask.from_document(submission.task), route.target)
        charge = self._recorder.quote(plan, route)
        self._recorder.record(
            plan, route, submission.attempt, started, error_code="cancelled", charge=charge, resumed=True
        )


def _route_of(plan: Plan, submission: Submission) -> PlannedRoute:
    route = next((r for r in plan.routes if r.target.name == submission.route), None)
    if route is None:
        # Its held ledger record is written as ``unknown`` when the hold runs out.
        raise UpstreamUnavailable(
            f"Route '{submission.route}', which accepted this request's task, is no longer configured."
        )
    return route
