"""Tasks of the submit-and-poll hosts (BFL, fal, Replicate): how each one runs and ends.

A task is created by a submit, answers "still running" for a few polls (the ``polls=N`` directive,
2 by default), then finishes as its directives say: ready, moderated, failed, or never (until it is
cancelled). Used only from the sandbox's event loop.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from imagegate.sandbox.directives import Directive
from imagegate.sandbox.render import seed_from

__all__ = ["Task", "TaskStore", "ending_of", "new_task"]

Ending = Literal["ready", "moderated-input", "moderated-output", "error", "never"]
DEFAULT_POLLS = 2


@dataclass
class Task:
    """One accepted task. ``polls_left`` counts down on each status read while the task is running."""

    id: str
    provider: str
    model: str
    width: int
    height: int
    output_format: str
    seed: int
    ending: Ending
    polls_left: int
    count: int = 1
    created: float = field(default_factory=time.time)
    polls: int = 0
    cancelled: bool = False
    expired: bool = False
    downloads: int = 0
    key_sent_to_result_host: bool = False
    finished: bool = False
    # Anything the host's own module keeps (fal's logs, Replicate's input), never prompt text or images.
    extra: dict[str, Any] = field(default_factory=dict)

    def advance(self) -> Literal["running", "ready", "moderated-input", "moderated-output", "error", "cancelled"]:
        """One status read: the state it reports."""
        self.polls += 1
        if self.cancelled:
            return "cancelled"
        if self.ending == "moderated-input":
            self.finished = True
            return "moderated-input"
        if self.ending == "never" or self.polls_left > 0:
            self.polls_left = max(0, self.polls_left - 1)
            return "running"
        self.finished = True
        return self.ending

    def active(self, now: float, horizon_s: float) -> bool:
        """Still running at the host: not finished, not cancelled, and younger than ``horizon_s``."""
        return not self.finished and not self.cancelled and now - self.created < horizon_s

    def to_json(self) -> dict[str, Any]:
        """The task as ``GET /_sandbox/tasks`` lists it."""
        return {
            "id": self.id,
            "provider": self.provider,
            "model": self.model,
            "size": f"{self.width}x{self.height}",
            "ending": self.ending,
            "polls": self.polls,
            "cancelled": self.cancelled,
            "downloads": self.downloads,
            "key_sent_to_result_host": self.key_sent_to_result_host,
        }


class TaskStore:
    """Every task of this sandbox, by id; used only from the event loop."""

    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}
        self.secret = secrets.token_bytes(16)

    def add(self, task: Task) -> Task:
        """Keep ``task``."""
        self.tasks[task.id] = task
        return task

    def get(self, task_id: str, provider: str) -> Task | None:
        """The task ``task_id`` of ``provider``, or None."""
        task = self.tasks.get(task_id)
        return task if task is not None and task.provider == provider else None

    def signature(self, task_id: str, index: int, expires: int) -> str:
        """The result URL's signature (HMAC over id, index and expiry)."""
        message = f"{task_id}:{index}:{expires}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:32]


def ending_of(outcome: Directive | None) -> Ending:
    """How a task submitted with the directive ``outcome`` finishes."""
    if outcome is None:
        return "ready"
    if outcome.name == "moderation":
        return "moderated-output" if outcome.stage == "output" else "moderated-input"
    if outcome.name == "never-finish":
        return "never"
    if outcome.name == "task-error":
        return "error"
    return "ready"


def new_task(
    provider: str,
    model: str,
    size: tuple[int, int],
    output_format: str,
    seed: int | None,
    applied: tuple[Directive, ...],
    outcome: Directive | None,
    *,
    count: int = 1,
    task_id: str | None = None,
) -> Task:
    """A task as a submit creates it, finishing as the directives say."""
    polls = next((d.count for d in applied if d.name == "polls" and d.count is not None), DEFAULT_POLLS)
    identifier = task_id if task_id is not None else str(uuid.uuid4())
    return Task(
        id=identifier,
        provider=provider,
        model=model,
        width=size[0],
        height=size[1],
        output_format=output_format,
        seed=seed if seed is not None else seed_from(identifier) % 2**31,
        ending=ending_of(outcome),
        polls_left=polls,
        count=count,
        expired=outcome is not None and outcome.name == "expired",
    )
