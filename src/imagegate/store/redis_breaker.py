"""Breaker states in Redis, shared by every replica.

Each route's state is one hash; updates read it, apply the pure transition from
``routing.breaker`` and write it back under WATCH/MULTI, so concurrent replicas never lose an
update and both stores follow exactly the same rules. Keys expire when a route goes quiet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, fields
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import WatchError
from redis.typing import EncodableT, FieldT

from imagegate.routing.breaker import Admission, BreakerConfig, BreakerState, admit, record, release

_FIELDS = {field.name: field.type for field in fields(BreakerState)}
IDLE_EXPIRY_S = 24 * 3600

T = TypeVar("T")


def _encode(state: BreakerState) -> dict[FieldT, EncodableT]:
    return {name: ("" if value is None else str(value)) for name, value in asdict(state).items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _decode(raw: Mapping[bytes | str, bytes | str]) -> BreakerState:
    if not raw:
        return BreakerState()
    values = {_text(key): _text(value) for key, value in raw.items()}
    probe = values.get("probe_started_at", "")
    return BreakerState(
        state=values.get("state", "closed"),  # type: ignore[arg-type]
        consecutive_failures=int(values.get("consecutive_failures", "0")),
        window_start=float(values.get("window_start", "0")),
        window_calls=int(values.get("window_calls", "0")),
        window_failures=int(values.get("window_failures", "0")),
        opened_at=float(values.get("opened_at", "0")),
        probe_started_at=None if probe == "" else float(probe),
        probes=int(values.get("probes", "0")),
    )


class RedisBreakerStore:
    """``BreakerStore`` over Redis (``IMAGEGATE_REDIS_URL``)."""

    def __init__(
        self, client: aioredis.Redis, config: BreakerConfig | None = None, *, prefix: str = "imagegate:breaker:"
    ) -> None:
        self.config = config or BreakerConfig()
        self._redis = client
        self._prefix = prefix

    @classmethod
    def from_url(
        cls, url: str, config: BreakerConfig | None = None, *, prefix: str = "imagegate:breaker:"
    ) -> RedisBreakerStore:
        """A store on a new connection pool."""
        return cls(aioredis.Redis.from_url(url), config, prefix=prefix)

    async def _update(self, route: str, transition: Callable[[BreakerState], tuple[T, BreakerState]]) -> T:
        key = self._prefix + route
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    current = _decode(await pipe.hgetall(key))
                    result, updated = transition(current)
                    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves Pipeline.multi unannotated
                    pipe.hset(key, mapping=_encode(updated))
                    pipe.expire(key, IDLE_EXPIRY_S)
                    await pipe.execute()
                    return result
                except WatchError:
                    continue

    async def admit(self, route: str, now: float) -> Admission:
        """Whether a call to ``route`` may go through now (claims a half-open probe slot atomically)."""
        return await self._update(route, lambda current: admit(self.config, current, now))

    async def release(self, route: str) -> None:
        """Hand back a probe slot whose call ended without an outcome about the route."""
        await self._update(route, lambda current: (None, release(current)))

    async def record(self, route: str, now: float, *, success: bool) -> None:
        """Record a call's outcome."""
        await self._update(route, lambda current: (None, record(self.config, current, now, success=success)))

    async def state(self, route: str) -> BreakerState:
        """The route's current state."""
        return _decode(await self._redis.hgetall(self._prefix + route))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()
