"""Idempotency claims and stored responses in Redis, shared by every replica.

Each key is a hash (``fp``, ``state``, ``token``, ``meta``, ``body``) whose TTL is the lease while
in flight and the window once done. Every state change is one Lua script, so replicas never race.
Stored bodies are bounded as a whole: ``<prefix>:bodies`` (a sorted set of the keys holding a body,
scored by when they were stored), ``<prefix>:sizes`` (their sizes) and ``<prefix>:bytes`` (the
total). Storing a body over the budget drops the oldest bodies first, leaving their keys
``unavailable`` (docs/reliability.md). The scripts touch keys named in that index, so this store
targets a single Redis (or one cluster slot), like the other Redis stores.
"""

from __future__ import annotations

import orjson
import redis.asyncio as aioredis

from imagegate.accounting.idempotency import ENTRY_OVERHEAD_BYTES, Claim, IdempotencyLimits, StoredResponse

_STATE = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'done' or state == 'failed' then
  return {state, redis.call('HGET', KEYS[1], 'meta'), redis.call('HGET', KEYS[1], 'body')}
end
if state == 'unavailable' then return {state, redis.call('HGET', KEYS[1], 'meta'), ''} end
if not state then return {'new'} end
return {state}
"""

# KEYS[1] entry; ARGV fingerprint, token, lease ms. A failed (transient) outcome is taken over.
_CLAIM = (
    """
local fp = redis.call('HGET', KEYS[1], 'fp')
local state = redis.call('HGET', KEYS[1], 'state')
if (not fp) or state == 'failed' then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'state', 'in_flight', 'token', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'new'}
end
if fp ~= ARGV[1] then return {'conflict'} end
"""
    + _STATE
)

_RENEW = """
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] and redis.call('HGET', KEYS[1], 'state') == 'in_flight' then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] and redis.call('HGET', KEYS[1], 'state') == 'in_flight' then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: entry, bodies (zset), sizes (hash), bytes (counter).
# ARGV: token, state ('done' | 'failed'), meta, body, ttl ms, max entry bytes, max total bytes, overhead.
_FINISH = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'state') ~= 'in_flight' then
  return 0
end
local ttl = tonumber(ARGV[5])
local size = string.len(ARGV[4]) + tonumber(ARGV[8])
if string.len(ARGV[4]) > tonumber(ARGV[6]) then
  if ARGV[2] == 'failed' then return redis.call('DEL', KEYS[1]) end
  redis.call('HSET', KEYS[1], 'state', 'unavailable', 'meta', ARGV[3])
  redis.call('HDEL', KEYS[1], 'token')
  redis.call('PEXPIRE', KEYS[1], ttl)
  return 1
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'meta', ARGV[3], 'body', ARGV[4])
redis.call('HDEL', KEYS[1], 'token')
redis.call('PEXPIRE', KEYS[1], ttl)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function forget(member)
  local held = tonumber(redis.call('HGET', KEYS[3], member) or '0')
  redis.call('HDEL', KEYS[3], member)
  redis.call('ZREM', KEYS[2], member)
  redis.call('DECRBY', KEYS[4], held)
end
-- bodies whose keys expired on their own
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do forget(member) end
forget(KEYS[1])
redis.call('ZADD', KEYS[2], now + ttl, KEYS[1])
redis.call('HSET', KEYS[3], KEYS[1], size)
local total = redis.call('INCRBY', KEYS[4], size)
while total > tonumber(ARGV[7]) do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if not oldest then break end
  forget(oldest)
  if redis.call('HGET', oldest, 'state') == 'done' then
    redis.call('HDEL', oldest, 'body')
    redis.call('HSET', oldest, 'state', 'unavailable')
  elseif redis.call('HGET', oldest, 'state') == 'failed' then
    redis.call('DEL', oldest)
  end
  total = tonumber(redis.call('GET', KEYS[4]))
end
return 1
"""


def _meta(response: StoredResponse) -> bytes:
    return orjson.dumps(
        {"status": response.status, "headers": list(response.headers), "media_type": response.media_type}
    )


def _response(meta: bytes, body: bytes) -> StoredResponse:
    parsed = orjson.loads(meta)
    return StoredResponse(
        status=parsed["status"],
        headers=tuple((k, v) for k, v in parsed["headers"]),
        body=body,
        media_type=parsed["media_type"],
    )


def _claim(result: list[bytes]) -> Claim:
    kind = result[0].decode()
    if kind in ("done", "failed", "unavailable"):
        return Claim(kind, _response(result[1], result[2]))  # type: ignore[arg-type]
    return Claim(kind)  # type: ignore[arg-type]


class RedisIdempotencyStore:
    """``IdempotencyStore`` over Redis, bounded by ``limits`` (see the module docstring)."""

    def __init__(
        self, client: aioredis.Redis, *, prefix: str = "imagegate:idem:", limits: IdempotencyLimits | None = None
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._limits = limits if limits is not None else IdempotencyLimits()
        self._index = [prefix + "{bodies}", prefix + "{sizes}", prefix + "{bytes}"]
        self._claim = client.register_script(_CLAIM)
        self._peek = client.register_script(_STATE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._finish = client.register_script(_FINISH)

    async def claim(self, key: str, fingerprint: str, token: str, lease_s: float) -> Claim:
        """Atomically claim ``key`` or report its state."""
        return _claim(await self._claim(keys=[self._prefix + key], args=[fingerprint, token, _ms(lease_s)]))

    async def renew(self, key: str, token: str, lease_s: float) -> bool:
        """Extend ``token``'s lease."""
        return bool(await self._renew(keys=[self._prefix + key], args=[token, _ms(lease_s)]))

    async def complete(self, key: str, token: str, response: StoredResponse, ttl_s: float) -> None:
        """Keep the finished response for the window (bounded; see the module docstring)."""
        await self._store(key, token, "done", response, ttl_s)

    async def fail(self, key: str, token: str, response: StoredResponse, ttl_s: float) -> None:
        """Keep a transient failure briefly for the waiting duplicates."""
        await self._store(key, token, "failed", response, ttl_s)

    async def _store(self, key: str, token: str, state: str, response: StoredResponse, ttl_s: float) -> None:
        limits = self._limits
        await self._finish(
            keys=[self._prefix + key, *self._index],
            args=[
                token,
                state,
                _meta(response),
                response.body,
                _ms(ttl_s),
                limits.max_entry_bytes,
                limits.max_total_bytes,
                ENTRY_OVERHEAD_BYTES,
            ],
        )

    async def release(self, key: str, token: str) -> None:
        """Drop ``token``'s unfinished claim."""
        await self._release(keys=[self._prefix + key], args=[token])

    async def peek(self, key: str) -> Claim:
        """The key's state without claiming it."""
        return _claim(await self._peek(keys=[self._prefix + key]))

    async def stored_bytes(self) -> int:
        """The bytes of bodies this store's budget counts now."""
        value = await self._redis.get(self._index[2])
        return 0 if value is None else int(value)


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
