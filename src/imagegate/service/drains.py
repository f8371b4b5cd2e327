"""Provider answers still being read after their client left, so their attempts are priced exactly.

A GPT Image or Gemini answer's usage comes at the end of its body (or stream), and the provider
finished the work (and bills it) whatever the client does. So when a client leaves a streamed
answer mid-way, its ``BodyStream``/``StreamSession`` hands the rest of the read to a drain: a task
that reads on, discarding the bytes (only the scanner's structure or the stream's parser state is
kept), and records the attempt when the answer ends or a bound is hit. ``Drains`` owns those tasks
so that none outlives the server: ``close()`` at shutdown cancels them, and each records at the
quote as it goes (docs/reliability.md, "A client leaving a streamed answer").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("imagegate.service")


@dataclass(frozen=True, slots=True)
class DrainBound:
    """How far a drain may read: until ``deadline`` (on the recorder's clock, the route's timeout
    counted from the attempt's start) and no more than ``max_bytes`` of the whole answer."""

    deadline: float
    max_bytes: int

    def remaining_s(self, now: float) -> float:
        """Seconds left before the deadline (0 or less: none)."""
        return self.deadline - now


class Drains:
    """The drains running in this process; each records its attempt however it ends."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def running(self) -> int:
        """How many drains are reading now."""
        return len(self._tasks)

    def start(self, drain: Callable[[], Coroutine[Any, Any, None]]) -> bool:
        """Run ``drain()`` in its own task; False (nothing started) once the server is stopping,
        and the caller then records the attempt itself at once."""
        if self._closed:
            return False
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        task = loop.create_task(drain())
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return True

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a drain failed", exc_info=task.exception())

    async def close(self) -> None:
        """Stop taking drains and cancel the running ones; returns once each has recorded."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            log.info("server stopping: %d answers still draining recorded at their quote", len(tasks))
        await asyncio.gather(*tasks, return_exceptions=True)
