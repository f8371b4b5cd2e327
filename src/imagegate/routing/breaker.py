"""Circuit breakers per route: the state machine (pure) and an in-process store.

    closed ──(N consecutive failures, or failure rate ≥ R over ≥ M calls in the window)──▶ open
    open ──(cool-down elapsed)──▶ half_open: one probe at a time is let through
    half_open ──probe succeeds──▶ closed          half_open ──probe fails──▶ open (cool-down again)

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


def admit(config: BreakerConfig, current: BreakerState, now: float) -> tuple[bool, BreakerState]:
    """Whether a call may go to the route now, and the state after admitting it (probe claimed)."""
    if current.state == "closed":
        return True, current
    if current.state == "open":
        if now - current.opened_at < config.cooldown_s:
            return False, current
        return True, replace(current, state="half_open", probe_started_at=now)
    # half_open: one probe at a time; a probe that never reported is presumed lost after its timeout.
    if current.probe_started_at is not None and now - current.probe_started_at < config.probe_timeout_s:
        return False, current
    return True, replace(current, probe_started_at=now)


def record(config: BreakerConfig, current: BreakerState, now: float, *, success: bool) -> BreakerState:
    """The state after a call's outcome is known."""
    if current.state == "half_open":
        if success:
            return BreakerState(state="closed", window_start=now)
        return replace(current, state="open", opened_at=now, probe_started_at=None)
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
        return replace(updated, state="open", opened_at=now, probe_started_at=None)
    return updated


class BreakerStore(Protocol):
    """Where breaker states live: in-process, or shared across replicas (async: may be remote)."""

    async def admit(self, route: str, now: float) -> bool:
        """Whether a call to ``route`` may go through now."""
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

    async def admit(self, route: str, now: float) -> bool:
        """Whether a call to ``route`` may go through now."""
        with self._lock:
            allowed, self._states[route] = admit(self.config, self._states.get(route, BreakerState()), now)
            return allowed

    async def record(self, route: str, now: float, *, success: bool) -> None:
        """Record a call's outcome."""
        with self._lock:
            self._states[route] = record(self.config, self._states.get(route, BreakerState()), now, success=success)

    async def state(self, route: str) -> BreakerState:
        """The route's current state."""
        with self._lock:
            return self._states.get(route, BreakerState())
