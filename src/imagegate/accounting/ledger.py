"""The ledger writer: records attempts off the response path, in batches, on its own thread.

``record()`` never blocks and never awaits, so it is safe in ``finally`` blocks that run while a
request is being cancelled (a client that went away still gets its attempts recorded). A failed
batch is retried with backoff rather than dropped; ``close()`` drains before returning.

Crash safety (docs/reliability.md, "Crash-safe attempt recording"): with a ``PendingAttemptStore``,
``begin()`` records an attempt as pending before its provider call. It is written by this thread
(batched with every other request's, never a database call on the event loop) and awaited until
durable. The attempt's ledger row later completes it in one transaction. While an attempt runs,
this thread renews its pending row's lease; a process that dies stops renewing, and the sweeper
(this thread, at start and every ``sweep_interval_s``, on any replica) writes rows whose lease ran
out to the ledger as ``unknown``, at the quote, estimated.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from imagegate.accounting.ports import LedgerEntry, LedgerStore, PendingAttempt, PendingAttemptStore

log = logging.getLogger("imagegate.ledger")

_STOP = object()

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CrashSafety:
    """How pending attempts are kept (settings ``ledger_*``)."""

    store: PendingAttemptStore
    # A pending row is resolved as ``unknown`` this long after its owner last renewed it.
    lease_s: float = 60.0
    sweep_interval_s: float = 30.0
    # Attempts running longer than this stop being renewed (a bounded in-process set).
    max_attempt_s: float = 3600.0
    # How long a request waits for its pending row to be durable before calling the provider anyway.
    begin_wait_s: float = 5.0
    # Told (on the writer's thread) of the rows the sweeper wrote: admission counts their cost.
    on_resolved: Callable[[list[LedgerEntry]], None] | None = None


@dataclass(slots=True)
class _Begin:
    pending: PendingAttempt
    durable: concurrent.futures.Future[None] = field(default_factory=concurrent.futures.Future)


@dataclass(frozen=True, slots=True)
class _Forget:
    key: tuple[str, int]


class LedgerWriter:
    """Batches ledger entries (and pending attempts) into the store from a background thread."""

    def __init__(
        self,
        store: LedgerStore,
        *,
        crash_safety: CrashSafety | None = None,
        batch_size: int = 200,
        flush_interval_s: float = 0.05,
        side_work: Callable[[], None] | None = None,
        side_work_interval_s: float = 30.0,
        wall_clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = store
        self._safety = crash_safety
        self._queue: queue.Queue[object] = queue.Queue()
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._side_work = side_work
        self._side_interval = side_work_interval_s
        self._wall_clock = wall_clock if wall_clock is not None else utc_now
        self._pending = 0
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="imagegate-ledger", daemon=True)
        self._started = False
        # Attempts begun here and not yet recorded: (request_id, attempt) -> when begun (monotonic).
        # Touched by the writer thread only.
        self._live: dict[tuple[str, int], float] = {}

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if not self._started:
            self._started = True
            self._thread.start()

    async def begin(self, unknown_outcome: LedgerEntry) -> None:
        """Durably note an attempt before its provider call; ``unknown_outcome`` is its row if it never ends.

        Returns once the pending row is stored (or after ``begin_wait_s``, logged: a database
        that is down must not stop traffic; the attempt's own row is still queued as usual).
        """
        if self._safety is None or not self._started:
            return
        lease = timedelta(seconds=self._safety.lease_s)
        item = _Begin(PendingAttempt(unknown_outcome, self._wall_clock() + lease))
        with self._cond:
            self._pending += 1
        self._queue.put_nowait(item)
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(item.durable)), self._safety.begin_wait_s)
        except asyncio.CancelledError:
            # Cancelled before the provider was called: nothing to resolve later.
            with self._cond:
                self._pending += 1
            self._queue.put_nowait(_Forget(item.pending.key))
            raise
        except TimeoutError:
            log.warning(
                "pending record of %s attempt %d not stored within %.1f s; calling the provider anyway",
                unknown_outcome.request_id,
                unknown_outcome.attempt,
                self._safety.begin_wait_s,
            )

    def forget(self, request_id: str, attempt: int) -> None:
        """Drop a begun attempt that never reached its provider (refused while building the wire request)."""
        if self._safety is None or not self._started:
            return
        with self._cond:
            self._pending += 1
        self._queue.put_nowait(_Forget((request_id, attempt)))

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
        last_side = last_renew = time.monotonic()
        last_sweep = float("-inf")  # sweep once at start: a previous process may have died
        stopping = False
        while not stopping:
            begins: list[_Begin] = []
            forgets: list[_Forget] = []
            entries: list[LedgerEntry] = []
            try:
                item = self._queue.get(timeout=self._interval)
            except queue.Empty:
                item = None
            while item is not None:
                if item is _STOP:
                    stopping = True
                    break
                if isinstance(item, _Begin):
                    begins.append(item)
                elif isinstance(item, _Forget):
                    forgets.append(item)
                else:
                    entries.append(item)  # type: ignore[arg-type]
                if len(begins) + len(entries) >= self._batch_size:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            # Begins first: an attempt's row is always queued after its begin.
            if begins:
                self._begin_batch(begins)
            if forgets:
                self._forget(forgets)
            if entries:
                self._write(entries)
            now = time.monotonic()
            if self._safety is not None:
                if now - last_renew >= self._safety.lease_s / 3:
                    last_renew = now
                    self._renew(now)
                if now - last_sweep >= self._safety.sweep_interval_s:
                    last_sweep = now
                    self._sweep()
            if self._side_work is not None and (stopping or now - last_side >= self._side_interval):
                last_side = now
                try:
                    self._side_work()
                except Exception:
                    log.exception("ledger side work failed")

    def _begin_batch(self, begins: list[_Begin]) -> None:
        assert self._safety is not None
        store = self._safety.store
        stored = _persist([item.pending for item in begins], store.begin_attempts, "pending attempts")
        began = time.monotonic()
        for item, ok in zip(begins, stored, strict=True):
            if ok:
                self._live[item.pending.key] = began
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                item.durable.set_result(None)  # raises only if the request gave up waiting
        self._done(len(begins))

    def _write(self, batch: list[LedgerEntry]) -> None:
        if self._safety is None:
            write: Callable[[Sequence[LedgerEntry]], None] = self._store.append_entries
        else:
            store = self._safety.store
            live = self._live

            def write(entries: Sequence[LedgerEntry]) -> None:
                begun = [key for key in ((entry.request_id, entry.attempt) for entry in entries) if key in live]
                store.complete_attempts(entries, begun)
                for key in begun:
                    live.pop(key, None)

        _persist(batch, write, "ledger entries")
        self._done(len(batch))

    def _forget(self, forgets: list[_Forget]) -> None:
        assert self._safety is not None
        store = self._safety.store
        keys = [item.key for item in forgets if self._live.pop(item.key, None) is not None]
        if keys:
            _persist(keys, lambda batch: store.complete_attempts([], batch), "dropped pending attempts")
        self._done(len(forgets))

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


def _persist(items: list[T], write: Callable[[Sequence[T]], None], what: str) -> list[bool]:
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
        stored = [_write_one(write, item) for item in items]
        if any(stored):
            for item, ok in zip(items, stored, strict=True):
                if not ok:
                    log.error("%s could not be stored and is logged instead: %r", what, item)
            return stored
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def _write_one(write: Callable[[Sequence[T]], None], item: T) -> bool:
    try:
        write([item])
    except Exception:
        return False
    return True


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
