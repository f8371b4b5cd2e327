"""Idempotency claims and stored responses in Redis, shared by every replica."""

from __future__ import annotations

import orjson
import redis.asyncio as aioredis

from imagegate.accounting.idempotency import Claim, StoredResponse

# Claim atomically: create the entry if absent, else report it (comparing the fingerprint).
_CLAIM = """
local fp = redis.call('HGET', KEYS[1], 'fp')
if not fp then
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'state', 'in_flight')
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {'new'}
end
if fp ~= ARGV[1] then return {'conflict'} end
if redis.call('HGET', KEYS[1], 'state') == 'in_flight' then return {'in_flight'} end
return {'done', redis.call('HGET', KEYS[1], 'response'), redis.call('HGET', KEYS[1], 'body')}
"""

_RELEASE = """
if redis.call('HGET', KEYS[1], 'state') == 'in_flight' then return redis.call('DEL', KEYS[1]) end
return 0
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


class RedisIdempotencyStore:
    """``IdempotencyStore`` over Redis."""

    def __init__(self, client: aioredis.Redis, *, prefix: str = "imagegate:idem:") -> None:
        self._redis = client
        self._prefix = prefix
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)

    async def claim(self, key: str, fingerprint: str, ttl_s: float) -> Claim:
        """Atomically claim ``key`` or report its state."""
        result = await self._claim(keys=[self._prefix + key], args=[fingerprint, int(ttl_s * 1000)])
        kind = result[0].decode()
        if kind == "done":
            return Claim("done", _response(result[1], result[2]))
        return Claim(kind)

    async def complete(self, key: str, response: StoredResponse, ttl_s: float) -> None:
        """Store the finished response for the rest of the window."""
        name = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(name, mapping={"state": "done", "response": _meta(response), "body": response.body})
            pipe.pexpire(name, int(ttl_s * 1000))
            await pipe.execute()

    async def release(self, key: str) -> None:
        """Drop an unfinished claim."""
        await self._release(keys=[self._prefix + key])

    async def peek(self, key: str) -> Claim:
        """The key's state without claiming it."""
        state = await self._redis.hget(self._prefix + key, "state")
        if state is None:
            return Claim("new")
        return Claim("in_flight" if state == b"in_flight" else "done")
