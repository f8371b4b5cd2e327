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
from datetime import datetime
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
class SubmissionHook:
    """What ``ImageService.serve`` does with an accepted task: hold its attempt until
    ``hold_until``, then ``record`` it (both before the first poll). ``record(None)`` at the
    start of every later attempt of the request: a task kept before is no longer the one to
    resume (it failed, and a retry or fallback runs)."""

    hold_until: datetime
    record: Callable[[Submission | None], Awaitable[object]]
