"""The ledger writer: records attempts off the response path, in batches, on its own thread.

``record()`` never blocks and never awaits, so it is safe in ``finally`` blocks that run while a
request is being cancelled (a client that went away still gets its attempts recorded). A failed
batch is retried with backoff rather than dropped; ``close()`` drains before returning.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from imagegate.accounting.ports import LedgerEntry, LedgerStore

log = logging.getLogger("imagegate.ledger")

_STOP = object()


class LedgerWriter:
    """Batches ledger entries into the store from a background thread."""

    def __init__(
        self,
        store: LedgerStore,
        *,
        batch_size: int = 200,
        flush_interval_s: float = 0.05,
        side_work: Callable[[], None] | None = None,
        side_work_interval_s: float = 30.0,
    ) -> None:
        self._store = store
        self._queue: queue.Queue[object] = queue.Queue()
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._side_work = side_work
        self._side_interval = side_work_interval_s
        self._pending = 0
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="imagegate-ledger", daemon=True)
        self._started = False

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if not self._started:
            self._started = True
            self._thread.start()

    def record(self, entry: LedgerEntry) -> None:
        """Queue one entry; returns immediately."""
        with self._cond:
            self._pending += 1
        self._queue.put_nowait(entry)

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Block until every recorded entry is in the store (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._pending > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout_s: float = 30.0) -> None:
        """Flush everything queued, then stop the thread."""
        if not self._started:
            return
        self._queue.put_nowait(_STOP)
        self._thread.join(timeout_s)
        self._started = False

    def _run(self) -> None:
        last_side = time.monotonic()
        stopping = False
        while not stopping:
            batch: list[LedgerEntry] = []
            try:
                item = self._queue.get(timeout=self._interval)
            except queue.Empty:
                item = None
            while item is not None:
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)  # type: ignore[arg-type]
                if len(batch) >= self._batch_size:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            if batch:
                self._write(batch)
            if self._side_work is not None and (stopping or time.monotonic() - last_side >= self._side_interval):
                last_side = time.monotonic()
                try:
                    self._side_work()
                except Exception:
                    log.exception("ledger side work failed")

    def _write(self, batch: list[LedgerEntry]) -> None:
        delay = 0.1
        pending = batch
        while pending:
            try:
                self._store.append_entries(pending)
                break
            except Exception:
                log.exception("writing %d ledger entries failed", len(pending))
            # Row by row: if some rows go in, the store is up and the rest are bad rows, which are
            # logged in full (they hold no image data) rather than blocking every later entry.
            failed = [entry for entry in pending if not self._write_one(entry)]
            if len(failed) < len(pending):
                for entry in failed:
                    log.error("ledger entry could not be stored and is logged instead: %r", entry)
                break
            # Nothing went in: the store is down. Losing rows loses money, so wait and retry.
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        with self._cond:
            self._pending -= len(batch)
            self._cond.notify_all()

    def _write_one(self, entry: LedgerEntry) -> bool:
        try:
            self._store.append_entries([entry])
        except Exception:
            return False
        return True


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
