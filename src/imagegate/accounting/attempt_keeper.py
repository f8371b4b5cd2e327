"""The ledger writer thread's crash-safety duties: keeping begun attempts recoverable until their rows land.

Docs/reliability.md, "Crash-safe attempt recording". An attempt begun in this process is first only
in its local spool (``LedgerWriter.begin``); ``AttemptKeeper``, on the writer's thread, then tracks
it. If its ledger row arrives within ``promote_after_s`` (most short calls) the row is simply
appended; an attempt still running by then is promoted to a pending record in the database (batched
with every other one), where any replica's sweeper can resolve it, and its ledger row later
completes it in one transaction. While a promoted attempt runs its lease is renewed; a process that
dies stops renewing, and the sweeper (at start and every ``sweep_interval_s``, on any replica)
writes records whose lease ran out to the ledger as ``unknown``, at the quote, estimated. Spools
left by dead processes (attempts killed before their promotion) are recovered into pending records
by the next process that shares the data directory, then swept the same way.

A held attempt (``LedgerWriter.hold``) gets a pending record due at the hold's end, is not renewed,
and its row is settled (written unless the ledger has it already) rather than appended.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from imagegate.accounting.crash_safety import CrashSafety
from imagegate.accounting.ledger_batch import Begin, Forget, Hold, persist
from imagegate.accounting.ports import LedgerEntry, PendingAttempt

log = logging.getLogger("imagegate.ledger")


class AttemptKeeper:
    """Begun attempts, promoted, held, renewed and swept on the ledger writer's thread (see the module docstring).

    Used by that thread only: nothing here is locked.
    """

    def __init__(self, safety: CrashSafety, wall_clock: Callable[[], datetime]) -> None:
        self._safety = safety
        self._wall_clock = wall_clock
        # Attempts begun here and not yet recorded: in the spool alone (begin order), and promoted
        # to a pending record -> when begun (monotonic).
        self._unpromoted: dict[tuple[str, int], Begin] = {}
        self._live: dict[tuple[str, int], float] = {}
        # Held attempts begun here (``hold``) whose rows are still to come: settled, not appended.
        self._held: set[tuple[str, int]] = set()
        self._last_renew = time.monotonic()
        self._last_sweep = float("-inf")

    def start(self, now: float) -> None:
        """Count the periodic duties from ``now`` (monotonic); sweep at once (a previous process may have died)."""
        self._last_renew = now
        self._last_sweep = float("-inf")

    def begun(self, begins: list[Begin]) -> None:
        """Track attempts noted before their provider calls (in the spool alone, until promoted)."""
        for begun in begins:
            self._unpromoted[begun.pending.key] = begun

    def next_due(self) -> list[float]:
        """When the next promotion, renewal and sweep are due (monotonic)."""
        due: list[float] = []
        oldest = next(iter(self._unpromoted.values()), None)
        if oldest is not None:
            due.append(oldest.began + self._safety.promote_after_s)
        if self._live:
            due.append(self._last_renew + self._safety.lease_s / 3)
        due.append(self._last_sweep + self._safety.sweep_interval_s)
        return due

    def run_due(self, now: float) -> None:
        """Renew the live attempts' leases, and recover dead processes' spools and sweep, when due."""
        if now - self._last_renew >= self._safety.lease_s / 3:
            self._last_renew = now
            self._renew(now)
        if now - self._last_sweep >= self._safety.sweep_interval_s:
            self._last_sweep = now
            self._recover()
            self._sweep()

    def promote(self, now: float) -> None:
        """Give attempts running past ``promote_after_s`` a pending record, in one transaction."""
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

    def write(self, batch: list[LedgerEntry], settles: list[LedgerEntry]) -> None:
        """Append the rows (completing their attempts' pending records) and settle the held ones."""
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

    def hold(self, held: Hold) -> None:
        """Give a begun attempt a pending record due at ``until`` and stop tracking it here."""
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

    def forget(self, forgets: list[Forget]) -> None:
        """Drop begun attempts that never reached their providers (and their pending records)."""
        store = self._safety.store
        for item in forgets:
            self._unpromoted.pop(item.key, None)
        keys = [item.key for item in forgets if self._live.pop(item.key, None) is not None]
        if keys:
            persist(keys, lambda batch: store.complete_attempts([], batch), "dropped pending attempts")
        self._discard_spooled([item.key for item in forgets])

    def _discard_spooled(self, keys: list[tuple[str, int]]) -> None:
        try:
            self._safety.spool.discard(keys)
        except OSError:
            log.exception("compacting the attempt spool failed")

    def _recover(self) -> None:
        """Attempts in the spools of dead processes become pending records due now (then swept)."""
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
