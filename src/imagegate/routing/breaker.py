"""Circuit breakers per route: the state machine (pure) and an in-process store.

    closed ──(N consecutive failures, or failure rate ≥ R over ≥ M calls in the window)──▶ open
    open ──(cool-down elapsed)──▶ half_open: up to ``half_open_probes`` probes at a time are let through
    half_open ──probe succeeds──▶ closed          half_open ──probe fails──▶ open (cool-down again)

A probe that ends without an outcome about the route (the request could not even be serialised,
the task was cancelled) hands its slot back with ``release``; callers do that by construction
(``service.route_guards.RouteGuards.admitted``), so one odd request cannot hold the half-open
route shut. Only a probe lost with its process is presumed gone after ``probe_timeout_s``.

The transitions are pure functions of a ``BreakerState`` and a time, so the Redis-backed store
(shared by replicas, in ``store/``) applies exactly the same rules as the in-process one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from imagegate.domain.errors import (
    ImagegateError,
    ModerationBlocked,
    NoImageGenerated,
    ProviderInvalidRequest,
)

State = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """Thresholds; defaults suit image routes (slow calls, low request rates)."""

    consecutive_failures: int = 5
    failure_rate: float = 0.5
    min_calls: int = 10
    window_s: float = 60.0
    cooldown_s: float = 30.0
    probe_timeout_s: float = 300.0
    half_open_probes: int = 2


@dataclass(frozen=True, slots=True)
class BreakerState:
    """A breaker's whole state; small enough to live in one Redis hash."""

    state: State = "closed"
    consecutive_failures: int = 0
    window_start: float = 0.0
    window_calls: int = 0
    window_failures: int = 0
    opened_at: float = 0.0
    probe_started_at: float | None = None
    probes: int = 0


@dataclass(frozen=True, slots=True)
class Admission:
    """A breaker's answer: whether the call may go, whether it holds a probe slot, and when to come back."""

    allowed: bool
    probe: bool = False
    retry_after_s: float | None = None


def is_route_fault(error: ImagegateError) -> bool:
    """Whether a failed call says something about the route (not about the caller's request).

    Invalid parameters, moderation blocks and "no image" answers are the request's outcome: the
    route answered properly, so they neither trip breakers nor degrade route health.
    """
    return not isinstance(error, (ProviderInvalidRequest, ModerationBlocked, NoImageGenerated))


def _rolled(config: BreakerConfig, current: BreakerState, now: float) -> BreakerState:
    if now - current.window_start >= config.window_s:
        return replace(current, window_start=now, window_calls=0, window_failures=0)
    return current


def admit(config: BreakerConfig, current: BreakerState, now: float) -> tuple[Admission, BreakerState]:
    """Whether a call may go to the route now, and the state after admitting it (probe slot claimed)."""
    if current.state == "closed":
        return Admission(allowed=True), current
    if current.state == "open":
        waited = now - current.opened_at
        if waited < config.cooldown_s:
            return Admission(allowed=False, retry_after_s=config.cooldown_s - waited), current
        return Admission(allowed=True, probe=True), replace(current, state="half_open", probe_started_at=now, probes=1)
    # half_open: a few probes at a time; probes that never reported are presumed lost after the timeout.
    probes = current.probes
    if current.probe_started_at is not None and now - current.probe_started_at >= config.probe_timeout_s:
        probes = 0
    if probes >= config.half_open_probes:
        # A slot frees as soon as a probe reports; the route may close any moment.
        return Admission(allowed=False, retry_after_s=1.0), current
    return Admission(allowed=True, probe=True), replace(current, probe_started_at=now, probes=probes + 1)


def release(current: BreakerState) -> BreakerState:
    """The state after a probe ended without saying anything about the route: its slot is free again."""
    if current.state != "half_open" or current.probes == 0:
        return current
    probes = current.probes - 1
    return replace(current, probes=probes, probe_started_at=None if probes == 0 else current.probe_started_at)


def record(config: BreakerConfig, current: BreakerState, now: float, *, success: bool) -> BreakerState:
    """The state after a call's outcome is known."""
    if current.state == "half_open":
        if success:
            return BreakerState(state="closed", window_start=now)
        return replace(current, state="open", opened_at=now, probe_started_at=None, probes=0)
    rolled = _rolled(config, current, now)
    calls = rolled.window_calls + 1
    failures = rolled.window_failures + (0 if success else 1)
    consecutive = 0 if success else rolled.consecutive_failures + 1
    updated = replace(rolled, window_calls=calls, window_failures=failures, consecutive_failures=consecutive)
    if success or rolled.state == "open":
        return updated
    tripped = consecutive >= config.consecutive_failures or (
        calls >= config.min_calls and failures / calls >= config.failure_rate
    )
    if tripped:
        return replace(updated, state="open", opened_at=now, probe_started_at=None, probes=0)
    return updated


class BreakerStore(Protocol):
    """Where breaker states live: in-process, or shared across replicas (async: may be remote)."""

    async def admit(self, route: str, now: float) -> Admission:
        """Whether a call to ``route`` may go through now (claiming a probe slot when half-open)."""
        ...

    async def release(self, route: str) -> None:
        """Hand back a probe slot whose call ended without an outcome about the route."""
        ...

    async def record(self, route: str, now: float, *, success: bool) -> None:
        """Record a call's outcome."""
        ...

    async def state(self, route: str) -> BreakerState:
        """The route's current state (for status pages)."""
        ...


class LocalBreakerStore:
    """Breaker states in this process only (one replica, or no Redis configured)."""

    def __init__(self, config: BreakerConfig | None = None) -> None:
        self.config = config or BreakerConfig()
        self._states: dict[str, BreakerState] = {}
        self._lock = threading.Lock()

    async def admit(self, route: str, now: float) -> Admission:
        """Whether a call to ``route`` may go through now."""
        with self._lock:
            admission, self._states[route] = admit(self.config, self._states.get(route, BreakerState()), now)
            return admission

    async def release(self, route: str) -> None:
        """Hand back a probe slot."""
        with self._lock:
            self._states[route] = release(self._states.get(route, BreakerState()))

    async def record(self, route: str, now: float, *, success: bool) -> None:
        """Record a call's outcome."""
        with self._lock:
            self._states[route] = record(self.config, self._states.get(route, BreakerState()), now, success=success)

    async def state(self, route: str) -> BreakerState:
        """The route's current state."""
        with self._lock:
            return self._states.get(route, BreakerState())
