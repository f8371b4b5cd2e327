"""Items for a worker thread, passed on once per event-loop iteration, after the iteration's own work.

The ledger writer and the log listener each run on a thread of their own, woken by a queue put.
Waking a thread mid-request costs the request: on a small VM a wake-up takes ~0.5 ms, the woken
thread then wants the interpreter lock the event loop holds, and both happen between reading a
request and calling its provider, or between the provider's answer and the client's
(docs/performance.md, "Hand-offs after the loop's own work"). ``LoopHandoff.put`` on the event loop
only appends to a list and, once per iteration, schedules ``flush`` with ``call_soon``: the thread
is woken after the task that put the item has written what it was writing (uvloop sends on
``write()``) and yielded, and one wake carries everything put in that iteration.

Off the event loop (another thread, no running loop) ``put`` delivers at once, with anything still
staged before it, so order is kept either way. ``flush`` may be called from any thread (a writer's
``close``, ``wait_idle``) to deliver what is staged now.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LoopHandoff(Generic[T]):
    """Coalesces ``put`` calls made on an event loop into one ``deliver`` call per loop iteration."""

    def __init__(self, deliver: Callable[[list[T]], None]) -> None:
        self._deliver = deliver
        self._staged: list[T] = []
        # The loop a flush is scheduled on (None: none pending). A loop that closed with its flush
        # still pending leaves it set: a put from any other loop schedules its own.
        self._scheduled_on: asyncio.AbstractEventLoop | None = None
        # Held while staging and while delivering, so deliveries keep the order of the puts.
        self._lock = threading.Lock()

    def put(self, item: T) -> None:
        """Stage ``item`` (on an event loop) or deliver it with everything staged (elsewhere)."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            self._staged.append(item)
            if loop is None:
                self._deliver_staged()
                return
            if self._scheduled_on is loop:
                return
            self._scheduled_on = loop
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Deliver everything staged now (from any thread)."""
        with self._lock:
            self._scheduled_on = None
            self._deliver_staged()

    def _deliver_staged(self) -> None:
        if not self._staged:
            return
        items, self._staged = self._staged, []
        self._deliver(items)
