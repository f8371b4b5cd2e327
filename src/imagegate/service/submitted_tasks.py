"""Tasks a submit-and-poll host accepted for a caller that outlives its process (a job).

``ImageService.serve`` keeps each accepted task through the caller's ``SubmissionHook``
(``keeper``: the attempt's ledger record is held for ``unkept_hold``, the task recorded, then the
hold moved to ``hold_until``, all before the first poll). After a restart, ``ImageService.resume`` runs the same attempt loop starting with
that task (``resumed_order``: its route first, then the routes the run had not left behind), and
``call_off`` cancels it at the host for a job cancelled while nobody ran it. Either records the
resumed attempt once, under its own request id and number (``AttemptRecorder.record(...,
resumed=True)``): the held record is dropped in the same transaction, and an attempt the sweeper
already wrote as ``unknown`` is not written again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from imagegate.accounting.ledger import utc_now
from imagegate.domain.errors import UpstreamUnavailable
from imagegate.providers.accepted_task import AcceptedTask, TaskAccepted
from imagegate.providers.polling import Poller
from imagegate.service.attempts import AttemptRecorder
from imagegate.service.plan import Plan, PlannedRoute
from imagegate.service.provider_calls import Attempt
from imagegate.service.submissions import Kept, Submission, SubmissionHook, SubmittedParts

log = logging.getLogger("imagegate.service")


class SubmittedTasks:
    """Keep and call off accepted tasks (see the module docstring)."""

    def __init__(
        self,
        poller: Poller,
        recorder: AttemptRecorder,
        *,
        clock: Callable[[], float],
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._poller = poller
        self._recorder = recorder
        self._clock = clock
        self._wall_clock = wall_clock

    def keeper(self, plan: Plan, route: PlannedRoute, attempt: Attempt, hook: SubmissionHook) -> TaskAccepted:
        """The ``on_accepted`` of one attempt: hold its ledger record, then hand the task to ``hook``."""

        async def accepted(task: AcceptedTask) -> None:
            first_hold = min(hook.hold_until, self._wall_clock() + hook.unkept_hold)
            await self._recorder.hold(plan, attempt.number, first_hold)
            submission = Submission(
                plan.request_id,
                attempt.number,
                route.target.name,
                task.document(),
                retries=attempt.retries,
                tried=attempt.tried,
            )
            kept = await hook.record(submission)
            if kept is not False and first_hold < hook.hold_until:
                await self._recorder.hold(plan, attempt.number, hook.hold_until)

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


class PartKeeper:
    """Keeps a fanned-out request's tasks through the caller's hook: one slot per part, the
    whole set (``SubmittedParts``) written on every change, one write at a time.

    A part's hook records its accepted tasks into its slot; before each new attempt of a part
    (``starting``) its slot is emptied and the attempt's number noted, so a resume never polls a
    task that is over and numbers its own attempts after every one the run began.
    """

    def __init__(
        self, hook: SubmissionHook, request_id: str, counts: Sequence[int], resumed: SubmittedParts | None
    ) -> None:
        self._hook = hook
        self._request_id = request_id
        self._counts = tuple(counts)
        self._slots: list[Submission | None] = [None] * len(counts) if resumed is None else list(resumed.parts)
        self._attempts = 0 if resumed is None else resumed.attempts
        self._lock = asyncio.Lock()

    def part(self, index: int) -> SubmissionHook:
        """The hook of part ``index``."""

        async def record(kept: Kept | None) -> None:
            await self._write(index, kept if isinstance(kept, Submission) else None, None)

        async def starting(number: int) -> None:
            await self._write(index, None, number)

        return SubmissionHook(hold_until=self._hook.hold_until, record=record, starting=starting)

    async def _write(self, index: int, submission: Submission | None, attempt: int | None) -> None:
        async with self._lock:
            self._slots[index] = submission
            if attempt is not None:
                self._attempts = max(self._attempts, attempt)
            parts = SubmittedParts(self._request_id, self._counts, tuple(self._slots), self._attempts)
            await self._hook.record(parts)


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
