"""The ledger writer: records attempts off the response path, in batches, on its own thread.

``record()`` never blocks and never awaits, so it is safe in ``finally`` blocks that run while a
request is being cancelled (a client that went away still gets its attempts recorded). A failed
batch is retried with backoff rather than dropped; ``close()`` drains before returning.

Crash safety (docs/reliability.md, "Crash-safe attempt recording"): ``begin()`` notes an attempt
before its provider call in this process's local spool (``AttemptSpool``: one ``write()`` on the
event loop, a few microseconds, durable against the process being killed once it returns); the
request never waits for the database. This thread then keeps the attempt in memory: if its ledger
row arrives within ``promote_after_s`` (most short calls), the row is simply appended; an attempt
still running by then is promoted to a pending record in the database (batched with every other
one), where any replica's sweeper can resolve it, and its ledger row later completes it in one
transaction. While a promoted attempt runs, this thread renews its lease; a process that dies stops
renewing, and the sweeper (this thread, at start and every ``sweep_interval_s``, on any replica)
writes records whose lease ran out to the ledger as ``unknown``, at the quote, estimated. Spools
left by dead processes (attempts killed before their promotion) are recovered into pending records
by the next process that shares the data directory, then swept the same way.

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
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

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
        # Attempts begun here and not yet recorded, touched by the writer thread only: in the spool
        # alone (begin order), and promoted to a pending record -> when begun (monotonic).
        self._unpromoted: dict[tuple[str, int], Begin] = {}
        self._live: dict[tuple[str, int], float] = {}
        # Held attempts begun here (``hold``) whose rows are still to come: settled, not appended.
        self._held: set[tuple[str, int]] = set()

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
        last_side = last_renew = time.monotonic()
        last_sweep = float("-inf")  # sweep once at start: a previous process may have died
        stopping = False
        while not stopping:
            # Sleep until an item arrives or periodic work is due: an idle gateway wakes nobody.
            item = self._next(self._idle_timeout(last_side, last_renew, last_sweep))
            batch = self._gather(item)
            stopping = batch.stopping
            # Begins first: an attempt's row is always queued after its begin (and its hold).
            for begun in batch.begins:
                self._unpromoted[begun.pending.key] = begun
            for held in batch.holds:
                self._hold(held)
            if batch.forgets:
                self._forget(batch.forgets)
            if batch.entries or batch.settles:
                self._write(batch.entries, batch.settles)
            now = time.monotonic()
            if self._safety is not None:
                self._promote(now)
            self._done(
                len(batch.begins) + len(batch.holds) + len(batch.forgets) + len(batch.entries) + len(batch.settles)
            )
            if self._safety is not None:
                if now - last_renew >= self._safety.lease_s / 3:
                    last_renew = now
                    self._renew(now)
                if now - last_sweep >= self._safety.sweep_interval_s:
                    last_sweep = now
                    self._recover()
                    self._sweep()
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

    def _idle_timeout(self, last_side: float, last_renew: float, last_sweep: float) -> float | None:
        """Seconds until the next periodic duty (promotion, renewal, sweep, side work); None: none."""
        due: list[float] = []
        if self._safety is not None:
            oldest = next(iter(self._unpromoted.values()), None)
            if oldest is not None:
                due.append(oldest.began + self._safety.promote_after_s)
            if self._live:
                due.append(last_renew + self._safety.lease_s / 3)
            due.append(last_sweep + self._safety.sweep_interval_s)
        if self._side_work is not None:
            due.append(last_side + self._side_interval)
        if not due:
            return None
        return max(0.0, min(due) - time.monotonic())

    def _promote(self, now: float) -> None:
        """Give attempts running past ``promote_after_s`` a pending record, in one transaction."""
        assert self._safety is not None
        due: list[Begin] = []
        for begun in self._unpromoted.values():  # oldest first: stop at the first one too young
            if now - begun.began < self._safety.promote_after_s:
                break
            due.append(begun)
        if not due:
            return
        # A full lease from now: the spool line's lease counted from the begin, which may be long past.
        resolve_after = self._wall_clock() + timedelta(seconds=self._safety.lease_s)
        records = [PendingAttempt(item.pending.entry, resolve_after) for item in due]
        stored = persist(records, self._safety.store.begin_attempts, "pending attempts")
        for item, ok in zip(due, stored, strict=True):
            del self._unpromoted[item.pending.key]
            if ok:
                self._live[item.pending.key] = item.began
        self._discard_spooled([item.pending.key for item in due])

    def _write(self, batch: list[LedgerEntry], settles: list[LedgerEntry]) -> None:
        if self._safety is None:
            persist(batch + settles, self._store.append_entries, "ledger entries")
            return
        store = self._safety.store
        live = self._live
        keys = [(entry.request_id, entry.attempt) for entry in batch]
        for key in keys:
            self._unpromoted.pop(key, None)  # ended before its promotion: no pending record to drop
        held = [entry for entry in batch if (entry.request_id, entry.attempt) in self._held]
        settles = settles + held
        batch = [entry for entry in batch if (entry.request_id, entry.attempt) not in self._held]

        def write(entries: Sequence[LedgerEntry]) -> None:
            begun = [key for key in ((entry.request_id, entry.attempt) for entry in entries) if key in live]
            store.complete_attempts(entries, begun)
            for key in begun:
                live.pop(key, None)

        if batch:
            persist(batch, write, "ledger entries")

        def settle(entries: Sequence[LedgerEntry]) -> None:
            written = store.settle_attempts(entries)
            if len(written) < len(entries):
                # The sweeper wrote those as ``unknown`` first (their holder died before the hold was
                # durable, or after the hold ran out): that row stands, at the quote.
                log.warning("%d held attempts were already in the ledger", len(entries) - len(written))

        if settles:
            persist(settles, settle, "held attempts' entries")
            self._held.difference_update((entry.request_id, entry.attempt) for entry in held)
        self._discard_spooled(keys)

    def _hold(self, held: Hold) -> None:
        """Give a begun attempt a pending record due at ``until`` and stop tracking it here."""
        assert self._safety is not None
        store = self._safety.store
        begun = self._unpromoted.pop(held.key, None)
        stored = False
        if begun is not None:
            [stored] = persist([PendingAttempt(begun.pending.entry, held.until)], store.begin_attempts, "held attempts")
        elif self._live.pop(held.key, None) is not None or held.key in self._held:
            # A held attempt held again: its hold is moved (a job keeps it until it expires).
            [stored] = persist([held.key], lambda keys: store.renew_attempts(keys, held.until), "held attempts")
        if stored:
            self._held.add(held.key)
            self._discard_spooled([held.key])
        held.done.set_result(stored)

    def _forget(self, forgets: list[Forget]) -> None:
        assert self._safety is not None
        store = self._safety.store
        for item in forgets:
            self._unpromoted.pop(item.key, None)
        keys = [item.key for item in forgets if self._live.pop(item.key, None) is not None]
        if keys:
            persist(keys, lambda batch: store.complete_attempts([], batch), "dropped pending attempts")
        self._discard_spooled([item.key for item in forgets])

    def _discard_spooled(self, keys: list[tuple[str, int]]) -> None:
        assert self._safety is not None
        try:
            self._safety.spool.discard(keys)
        except OSError:
            log.exception("compacting the attempt spool failed")

    def _recover(self) -> None:
        """Attempts in the spools of dead processes become pending records due now (then swept)."""
        assert self._safety is not None
        try:
            found = self._safety.spool.recover()
        except OSError:
            log.exception("reading the spools of stopped processes failed")
            return
        now = self._wall_clock()
        for token, attempts in found:
            due = [PendingAttempt(item.entry, min(item.resolve_after, now)) for item in attempts]
            try:
                adopted = self._safety.store.adopt_attempts(due)
            except Exception:
                log.exception("storing %d attempts recovered from a spool failed; retrying later", len(due))
                self._safety.spool.release(token, stored=False)
                continue
            self._safety.spool.release(token, stored=True)
            if adopted:
                log.warning("recovered %d attempts begun by a process that stopped before recording them", adopted)

    def _renew(self, now: float) -> None:
        assert self._safety is not None
        for key in [key for key, began in self._live.items() if now - began > self._safety.max_attempt_s]:
            log.warning("attempt %s %d ran over %.0f s; leaving it to the sweeper", *key, self._safety.max_attempt_s)
            del self._live[key]
        if not self._live:
            return
        try:
            resolve_after = self._wall_clock() + timedelta(seconds=self._safety.lease_s)
            self._safety.store.renew_attempts(list(self._live), resolve_after)
        except Exception:
            log.exception("renewing %d pending attempts failed", len(self._live))

    def _sweep(self) -> None:
        assert self._safety is not None
        try:
            resolved = self._safety.store.resolve_stale_attempts(self._wall_clock())
        except Exception:
            log.exception("resolving stale pending attempts failed")
            return
        if resolved and self._safety.on_resolved is not None:
            try:
                self._safety.on_resolved(resolved)
            except Exception:
                log.exception("passing %d resolved attempts on failed", len(resolved))
        for entry in resolved:
            log.warning(
                "attempt request_id=%s attempt=%d route=%s never recorded its outcome (its gateway stopped); "
                "recorded as unknown at the quote, cost_micros=%d",
                entry.request_id,
                entry.attempt,
                entry.route,
                entry.cost_micros,
            )

    def _done(self, count: int) -> None:
        with self._cond:
            self._pending -= count
            self._cond.notify_all()


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
