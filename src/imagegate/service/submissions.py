"""Submissions a provider accepted: kept by a caller that must outlive its process (a job).

A submit-and-poll host answers a submit with a task to poll. ``ImageService.serve`` tells a
``SubmissionHook`` about each such task before polling it: first the attempt's ledger record is
held until ``hold_until`` (``AttemptRecorder.hold``: the sweeper will not write it as
``unknown`` meanwhile), then ``record`` keeps the ``Submission``. After a restart
``ImageService.resume`` polls that task on the same route and records the attempt's outcome
once, under the attempt's own request id and number; a task that failed is followed by the rest
of the attempt loop the run had left (``retries`` on its route, the routes not ``tried`` yet).
Which provider polls, and how, stays in ``providers.polling``: here a task is an opaque JSON document.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True, slots=True)
class Submission:
    """One accepted submission: the attempt it belongs to, its route, and the provider's task.

    ``retries``: earlier failed attempts of the run on this route; ``tried``: the routes the run
    had left behind before this one (a resume carries on the attempt loop from there).
    """

    request_id: str
    attempt: int
    route: str
    task: dict[str, Any]
    retries: int = 0
    tried: tuple[str, ...] = ()

    def document(self) -> dict[str, Any]:
        """JSON values (what a job row keeps)."""
        return {
            "request_id": self.request_id,
            "attempt": self.attempt,
            "route": self.route,
            "task": self.task,
            "retries": self.retries,
            "tried": list(self.tried),
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Submission | None:
        """The submission ``document()`` wrote; None for anything else (nothing to resume)."""
        request_id, attempt = document.get("request_id"), document.get("attempt")
        route, task = document.get("route"), document.get("task")
        if not isinstance(request_id, str) or not isinstance(route, str) or not isinstance(task, dict):
            return None
        if isinstance(attempt, bool) or not isinstance(attempt, int):
            return None
        # Rows kept before ``retries`` / ``tried`` existed resume as the route's first try.
        retries, tried = document.get("retries", 0), document.get("tried", [])
        if isinstance(retries, bool) or not isinstance(retries, int):
            retries = 0
        if not isinstance(tried, list) or not all(isinstance(name, str) for name in tried):
            tried = []
        return cls(request_id=request_id, attempt=attempt, route=route, task=task, retries=retries, tried=tuple(tried))


@dataclass(frozen=True, slots=True)
class SubmittedParts:
    """The tasks of a fanned-out request (``n`` split into parallel calls), one slot per part.

    ``counts``: each part's image count; ``parts``: each part's latest accepted task (kept after
    it finished too: a resume polls it again to fetch its images, and its ledger row is not
    written twice), None while the part has none; ``attempts``: the highest attempt number the
    run has begun, so a resumed run numbers new attempts after it.
    """

    request_id: str
    counts: tuple[int, ...]
    parts: tuple[Submission | None, ...]
    attempts: int

    def document(self) -> dict[str, Any]:
        """JSON values (what a job row keeps)."""
        return {
            "request_id": self.request_id,
            "counts": list(self.counts),
            "attempts": self.attempts,
            "parts": [None if part is None else part.document() for part in self.parts],
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> SubmittedParts | None:
        """The parts ``document()`` wrote; None for anything else."""
        request_id, counts, attempts = document.get("request_id"), document.get("counts"), document.get("attempts")
        parts = document.get("parts")
        if not isinstance(request_id, str) or not isinstance(parts, list) or not isinstance(counts, list):
            return None
        if isinstance(attempts, bool) or not isinstance(attempts, int) or len(counts) != len(parts):
            return None
        if not all(isinstance(count, int) and not isinstance(count, bool) and count > 0 for count in counts):
            return None
        kept: list[Submission | None] = []
        for part in parts:
            submission = Submission.from_document(part) if isinstance(part, dict) else None
            if part is not None and submission is None:
                return None
            kept.append(submission)
        return cls(request_id=request_id, counts=tuple(counts), parts=tuple(kept), attempts=attempts)


Kept = Submission | SubmittedParts
"""What a caller keeps of a request's accepted tasks: one task, or a fanned-out request's parts."""


def kept_from_document(document: dict[str, Any]) -> Kept | None:
    """The ``Submission`` or ``SubmittedParts`` a job row keeps; None: nothing to resume."""
    if "parts" in document:
        return SubmittedParts.from_document(document)
    return Submission.from_document(document)


@dataclass(frozen=True, slots=True)
class SubmissionHook:
    """What ``ImageService.serve`` does with an accepted task: hold its attempt, ``record`` it,
    then (if ``record`` did not answer False) hold it on until ``hold_until``, all before the
    first poll. Before each new attempt
    is noted, ``starting`` is told its number when set; otherwise ``record(None)`` runs before
    every later attempt of the request: a task kept before is no longer the one to resume (it
    failed, and a retry or fallback runs)."""

    hold_until: datetime
    record: Callable[[Kept | None], Awaitable[object]]
    starting: Callable[[int], Awaitable[object]] | None = None
    # Until ``record`` has kept the task, the hold lasts this long only: a process that dies
    # before keeping it leaves a task nobody will resume, whose attempt is written as
    # ``unknown`` at the quote then, not at ``hold_until``.
    unkept_hold: timedelta = timedelta(minutes=10)
