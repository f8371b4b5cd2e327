"""The ledger writer: records attempts off the response path, in batches, on its own thread.

``record()`` never blocks and never awaits, so it is safe in ``finally`` blocks that run while a
request is being cancelled (a client that went away still gets its attempts recorded). A failed
batch is retried with backoff rather than dropped; ``close()`` drains before returning.

Crash safety (docs/reliability.md, "Crash-safe attempt recording"): ``begin()`` notes an attempt
before its provider call in this process's local spool (``AttemptSpool``: one line copied into a mapped
file on the event loop, no system call, durable against the process being killed once made); the
request never waits for the database. The writer's thread then keeps the attempt recoverable until
its row lands: promoted to a pending record if it runs long, its lease renewed, and the records of
dead processes swept as ``unknown`` (``accounting.attempt_keeper``).

An attempt whose outcome may be learnt by another process (a job's task accepted by a
submit-and-poll host, polled again after a restart) is **held**: ``hold()`` gives it a durable
pending record that the sweeper leaves alone until a given time (the job's expiry), and whoever
learns the outcome records it with ``settle()`` (the same process's ``record()`` does so too):
the pending record is dropped and the row appended unless the attempt is already in the ledger,
in one transaction, so the attempt is written exactly once.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from imagegate.accounting.attempt_keeper import AttemptKeeper
from imagegate.accounting.crash_safety import CrashSafety
from imagegate.accounting.handoff import LoopHandoff
from imagegate.accounting.ledger_batch import STOP, Batch, Begin, Forget, Hold, Settle, persist
from imagegate.accounting.ports import LedgerEntry, LedgerStore, PendingAttempt

log = logging.getLogger("imagegate.ledger")


class LedgerWriter:
    """Batches ledger entries (and pending attempts) into the store from a background thread."""

    def __init__(
        self,
        store: LedgerStore,
        *,
        crash_safety: CrashSafety | None = None,
        batch_size: int = 200,
        flush_interval_s: float = 0.02,
        side_work: Callable[[], None] | None = None,
        side_work_interval_s: float = 30.0,
        wall_clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = store
        self._safety = crash_safety
        self._queue: queue.Queue[object] = queue.Queue()
        # Puts made on the event loop reach the queue (and wake the thread) once per loop iteration,
        # after the request's own I/O of that iteration (accounting/handoff.py).
        self._handoff: LoopHandoff[object] = LoopHandoff(self._enqueue)
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._side_work = side_work
        self._side_interval = side_work_interval_s
        self._wall_clock = wall_clock if wall_clock is not None else utc_now
        self._pending = 0
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="imagegate-ledger", daemon=True)
        self._started = False
        # Begun attempts, kept recoverable on the writer thread until their rows land.
        self._attempts = AttemptKeeper(crash_safety, self._wall_clock) if crash_safety is not None else None

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if not self._started:
            self._started = True
            self._thread.start()

    def begin(self, unknown_outcome: LedgerEntry) -> None:
        """Note an attempt before its provider call; ``unknown_outcome`` is its row if it never ends.

        One append to the local spool, then a queued item: nothing here waits for the database.
        A spool that cannot be written (disk full) is logged and the call proceeds; the attempt is
        still promoted to a pending record if it runs long enough.
        """
        if self._safety is None or not self._started:
            return
        pending = PendingAttempt(unknown_outcome, self._wall_clock() + timedelta(seconds=self._safety.lease_s))
        try:
            self._safety.spool.append(pending)
        except OSError:
            log.exception("spooling %s attempt %d failed", unknown_outcome.request_id, unknown_outcome.attempt)
        with self._cond:
            self._pending += 1
        self._handoff.put(Begin(pending, time.monotonic()))

    def forget(self, request_id: str, attempt: int) -> None:
        """Drop a begun attempt that never reached its provider (refused while building the wire request)."""
        if self._safety is None or not self._started:
            return
        with self._cond:
            self._pending += 1
        self._handoff.put(Forget((request_id, attempt)))

    def hold(self, request_id: str, attempt: int, until: datetime) -> concurrent.futures.Future[bool]:
        """Keep a begun attempt's pending record until ``until`` (not renewed, not swept before then).

        Done (True) once the record is in the database; False when this writer keeps no pending
        records (crash safety off) or no longer knows the attempt. Its row is then recorded by
        ``record`` here or ``settle`` anywhere, exactly once.
        """
        done: concurrent.futures.Future[bool] = concurrent.futures.Future()
        if self._safety is None or not self._started:
            done.set_result(False)
            return done
        with self._cond:
            self._pending += 1
        self._handoff.put(Hold((request_id, attempt), until, done))
        return done

    def settle(self, entry: LedgerEntry) -> None:
        """Queue the row of an attempt another process held; written unless the ledger has it already."""
        with self._cond:
            self._pending += 1
        self._handoff.put(Settle(entry))

    def record(self, entry: LedgerEntry) -> None:
        """Queue one entry; returns immediately."""
        with self._cond:
            self._pending += 1
        self._handoff.put(entry)

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Block until every recorded entry is in the store (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout_s
        self._handoff.flush()
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
        self._handoff.flush()
        self._queue.put_nowait(STOP)
        self._thread.join(timeout_s)
        self._started = False
        if self._safety is not None:
            self._safety.spool.close()

    def _enqueue(self, items: list[object]) -> None:
        for item in items:
            self._queue.put_nowait(item)

    def _run(self) -> None:
        attempts = self._attempts
        last_side = time.monotonic()
        if attempts is not None:
            attempts.start(last_side)  # sweep once at start: a previous process may have died
        stopping = False
        while not stopping:
            # Sleep until an item arrives or periodic work is due: an idle gateway wakes nobody.
            item = self._next(self._idle_timeout(last_side))
            batch = self._gather(item)
            stopping = batch.stopping
            # Begins first: an attempt's row is always queued after its begin (and its hold).
            # (Only a writer with crash safety queues begins, holds and forgets.)
            if attempts is not None:
                attempts.begun(batch.begins)
                for held in batch.holds:
                    attempts.hold(held)
                if batch.forgets:
                    attempts.forget(batch.forgets)
            if batch.entries or batch.settles:
                self._write(batch.entries, batch.settles)
            now = time.monotonic()
            if attempts is not None:
                attempts.promote(now)
            self._done(
                len(batch.begins) + len(batch.holds) + len(batch.forgets) + len(batch.entries) + len(batch.settles)
            )
            if attempts is not None:
                attempts.run_due(now)
            if self._side_work is not None and (stopping or now - last_side >= self._side_interval):
                last_side = now
                try:
                    self._side_work()
                except Exception:
                    log.exception("ledger side work failed")

    def _next(self, timeout_s: float | None) -> object | None:
        try:
            return self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def _gather(self, item: object | None) -> Batch:
        """Group commit: after the first item, sleep out ``flush_interval_s`` once, then take what queued.

        One transaction then carries every row that arrived meanwhile, so under load the thread
        wakes and commits a few times per interval instead of once per attempt (and holds the
        interpreter lock far less); the request never waits for it either way. The thread sleeps
        rather than waiting on the queue, which would wake it at every put. A backlog that fills a
        batch is taken without sleeping.
        """
        batch = Batch()
        if item is None:
            return batch
        deadline = time.monotonic() + self._interval
        if not batch.take(item, self._queue, self._batch_size):
            remaining = deadline - time.monotonic()
            if remaining > 0:
                time.sleep(remaining)
            batch.take(None, self._queue, self._batch_size)
        return batch

    def _idle_timeout(self, last_side: float) -> float | None:
        """Seconds until the next periodic duty (promotion, renewal, sweep, side work); None: none."""
        due: list[float] = []
        if self._attempts is not None:
            due.extend(self._attempts.next_due())
        if self._side_work is not None:
            due.append(last_side + self._side_interval)
        if not due:
            return None
        return max(0.0, min(due) - time.monotonic())

    def _write(self, batch: list[LedgerEntry], settles: list[LedgerEntry]) -> None:
        if self._attempts is None:
            persist(batch + settles, self._store.append_entries, "ledger entries")
            return
        self._attempts.write(batch, settles)

    def _done(self, count: int) -> None:
        with self._cond:
            self._pending -= count
            self._cond.notify_all()


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
