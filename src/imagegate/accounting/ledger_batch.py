"""What the ledger writer's thread takes from its queue, in batches, and how it persists them.

The request side puts items on a queue (``accounting.ledger.LedgerWriter``); the writer thread
gathers what arrived into one ``Batch`` (group commit) and writes it with ``persist``, which
retries while the store is down rather than lose a row.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from imagegate.accounting.ports import LedgerEntry, PendingAttempt

log = logging.getLogger("imagegate.ledger")

STOP = object()

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Begin:
    """An attempt noted before its provider call."""

    pending: PendingAttempt
    began: float  # monotonic


@dataclass(frozen=True, slots=True)
class Forget:
    """A begun attempt that never reached its provider."""

    key: tuple[str, int]


@dataclass(frozen=True, slots=True)
class Hold:
    """Hold a begun attempt's record until ``until``; ``done`` says whether it is durable."""

    key: tuple[str, int]
    until: datetime
    done: concurrent.futures.Future[bool]


@dataclass(frozen=True, slots=True)
class Settle:
    """The row of a held attempt: written unless the ledger has the attempt already."""

    entry: LedgerEntry


@dataclass(slots=True)
class Batch:
    """What one turn of the writer thread handles."""

    begins: list[Begin] = field(default_factory=list)
    forgets: list[Forget] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    entries: list[LedgerEntry] = field(default_factory=list)
    settles: list[LedgerEntry] = field(default_factory=list)
    stopping: bool = False

    def take(self, item: object | None, source: queue.Queue[object], batch_size: int) -> bool:
        """Add ``item`` and whatever is queued now; True once the batch is full or a stop came."""
        while True:
            if item is STOP:
                self.stopping = True
                return True
            if isinstance(item, Begin):
                self.begins.append(item)
            elif isinstance(item, Forget):
                self.forgets.append(item)
            elif isinstance(item, Hold):
                self.holds.append(item)
            elif isinstance(item, Settle):
                self.settles.append(item.entry)
            elif item is not None:
                self.entries.append(item)  # type: ignore[arg-type]
            if len(self.begins) + len(self.entries) + len(self.settles) >= batch_size:
                return True
            try:
                item = source.get_nowait()
            except queue.Empty:
                return False


def persist(items: list[T], write: Callable[[Sequence[T]], None], what: str) -> list[bool]:
    """Write ``items`` in one call, retrying while the store is down; which items went in.

    Row by row when the batch fails: if some rows go in, the store is up and the rest are bad
    rows, which are logged in full (they hold no image data) rather than blocking every later
    row. If nothing goes in, the store is down; losing rows loses money, so wait and retry.
    """
    delay = 0.1
    while True:
        try:
            write(items)
            return [True] * len(items)
        except Exception:
            log.exception("writing %d %s failed", len(items), what)
        stored = [write_one(write, item) for item in items]
        if any(stored):
            for item, ok in zip(items, stored, strict=True):
                if not ok:
                    log.error("%s could not be stored and is logged instead: %r", what, item)
            return stored
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def write_one(write: Callable[[Sequence[T]], None], item: T) -> bool:
    try:
        write([item])
    except Exception:
        return False
    return True
