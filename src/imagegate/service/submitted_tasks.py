"""Tasks a submit-and-poll host accepted for a caller that outlives its process (a job).

``ImageService.serve`` keeps each accepted task through the caller's ``SubmissionHook``
(``keeper``: the attempt's ledger record is held first, then the task recorded, both before the
first poll). After a restart, ``ImageService.resume`` runs the same attempt loop starting with
that task (``resumed_order``: its route first, then the routes the run had not left behind), and
``call_off`` cancels it at the host for a job cancelled while nobody ran it. Either records the
resumed attempt once, under its own request id and number (``AttemptRecorder.record(...,
resumed=True)``): the held record is dropped in the same transaction, and an attempt the sweeper
already wrote as ``unknown`` is not written again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from imagegate.domain.errors import UpstreamUnavailable
from imagegate.providers.accepted_task import AcceptedTask, TaskAccepted
from imagegate.providers.polling import Poller
from imagegate.service.attempts import AttemptRecorder
from imagegate.service.plan import Plan, PlannedRoute
from imagegate.service.provider_calls import Attempt
from imagegate.service.submissions import Submission, SubmissionHook

log = logging.getLogger("imagegate.service")


class SubmittedTasks:
    """Keep and call off accepted tasks (see the module docstring)."""

    def __init__(self, poller: Poller, recorder: AttemptRecorder, *, clock: Callable[[], float]) -> None:
        self._poller = poller
        self._recorder = recorder
        self._clock = clock

    def keeper(self, plan: Plan, route: PlannedRoute, attempt: Attempt, hook: SubmissionHook) -> TaskAccepted:
        """The ``on_accepted`` of one attempt: hold its ledger record, then hand the task to ``hook``."""

        async def accepted(task: AcceptedTask) -> None:
            await self._recorder.hold(plan, attempt.number, hook.hold_until)
            submission = Submission(
                plan.request_id,
                attempt.number,
                route.target.name,
                task.document(),
                retries=attempt.retries,
                tried=attempt.tried,
            )
            await hook.record(submission)

        return accepted

    async def call_off(self, plan: Plan, submission: Submission) -> None:
        """Cancel the task at its host (where the host has a cancel call) and record its attempt
        as cancelled, at the quote (the host may have billed part of it)."""
        route = route_of(plan, submission)
        started = self._clock()
        await self._poller.call_off(route.adapter, AcceptedTask.from_document(submission.task), route.target)
        charge = self._recorder.quote(plan, route)
        self._recorder.record(
            plan, route, submission.attempt, started, error_code="cancelled", charge=charge, resumed=True
        )


def resumed_order(plan: Plan, ordered: list[PlannedRoute], submission: Submission) -> list[PlannedRoute]:
    """The routes a resumed run tries: the task's own first (whatever its breaker or live
    controls say now: the task runs there already), then those of ``ordered`` the run had not
    left behind before the restart."""
    route = route_of(plan, submission)
    left = {submission.route, *submission.tried}
    return [route, *(other for other in ordered if other.target.name not in left)]


def route_of(plan: Plan, submission: Submission) -> PlannedRoute:
    """The plan's route that accepted ``submission``; ``UpstreamUnavailable`` when it is gone from the config."""
    route = next((r for r in plan.routes if r.target.name == submission.route), None)
    if route is None:
        # Its held ledger record is written as ``unknown`` when the hold runs out.
        raise UpstreamUnavailable(
            f"Route '{submission.route}', which accepted this request's task, is no longer configured."
        )
    return route
