"""``RedisAdmissionStore``: admission state shared by every replica, changed by Lua scripts.

Per ``(holder, bucket)`` four keys, under one hash tag so a script's keys share a cluster slot:

    {ig-adm}:s:<holder>:<bucket>   spent (integer micro-dollars or images); absent = not seeded
    {ig-adm}:t:<holder>:<bucket>   total of the live holds
    {ig-adm}:z:<holder>:<bucket>   reservation id -> expiry (ms), a sorted set
    {ig-adm}:a:<holder>:<bucket>   reservation id -> amount held, a hash

A script first drops lapsed holds (their expiry passed: a crashed replica's lease ran out),
then checks every bucket, then applies every hold, so admission is all-or-nothing. Amounts are
integers (``INCRBY``), never floats.

**After a Redis loss** (a restart without persistence, a flush) the spent counters are gone; the
hold script answers "not seeded" for a bucket whose counter is absent and the store seeds it from
the ledger plus the quotes of attempts in flight (``pending_attempts``), with ``SET NX`` so
replicas racing to seed agree, then retries. The state carries an *epoch* (a random id and the
time the first caller after a loss set it): a reservation made before the loss settles its holds
but adds the spend only of attempts begun after the epoch started, because the seed already counted
the earlier ones (finished ones from the ledger, running ones at their quote). What escapes both is
an attempt begun just before the loss but not yet recorded as pending (milliseconds), and image
counts of running attempts (pending rows carry cost only). Run Redis with ``maxmemory-policy noeviction``: an evicted counter is reseeded while its
epoch stands, which counts in-flight attempts twice (never too little).

**Redis unreachable**: ``AdmissionUnavailable`` (the service answers 503 and calls no provider:
fail closed). A settlement that cannot reach Redis is retried in the background for a while; if
Redis lost its data meanwhile, the ledger seed accounts for it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from imagegate.accounting.admission import AdmissionUnavailable, Hold, Refusal, Seed, Spend

log = logging.getLogger("imagegate.admission")

TAG = "{ig-adm}"

# ARGV: now_ms, reservation id, count, then per hold: name, amount, limit, expires_ms, needs_counter (1/0).
_HOLD = """
local now = tonumber(ARGV[1])
local rid = ARGV[2]
local n = tonumber(ARGV[3])
local p = ARGV[4]
-- The incarnation of this state: a fresh (or flushed) Redis gets a new one from its first caller.
local epoch = redis.call('GET', p .. 'epoch')
if not epoch then
  epoch = ARGV[5 + n * 5] .. ':' .. ARGV[1]
  redis.call('SET', p .. 'epoch', epoch)
end
for i = 0, n - 1 do
  local b = 5 + i * 5
  local name, amount, limit = ARGV[b], tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
  local z, a, t = p .. 'z:' .. name, p .. 'a:' .. name, p .. 't:' .. name
  local lapsed = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  for _, r in ipairs(lapsed) do
    local amt = redis.call('HGET', a, r)
    if amt then
      redis.call('DECRBY', t, amt)
      redis.call('HDEL', a, r)
    end
  end
  if #lapsed > 0 then
    redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
  end
  local spent = 0
  if ARGV[b + 4] == '1' then
    local v = redis.call('GET', p .. 's:' .. name)
    if not v then
      return {-1, i}
    end
    spent = tonumber(v)
  end
  local held = tonumber(redis.call('GET', t) or '0')
  if spent + held + amount > limit then
    local first = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
    return {0, i, spent + held, first[2] or '-1'}
  end
end
for i = 0, n - 1 do
  local b = 5 + i * 5
  local name, amount, expires = ARGV[b], tonumber(ARGV[b + 1]), tonumber(ARGV[b + 3])
  local z, a, t = p .. 'z:' .. name, p .. 'a:' .. name, p .. 't:' .. name
  redis.call('HINCRBY', a, rid, amount)
  redis.call('INCRBY', t, amount)
  local current = redis.call('ZSCORE', z, rid)
  if (not current) or tonumber(current) < expires then
    redis.call('ZADD', z, expires, rid)
  end
  -- The bookkeeping keys outlive their last hold by 30 to 60 s, then vanish on their own; they are
  -- always set together, so the sorted set's TTL stands for all three (refreshed at most every 30 s).
  local ttl = expires - now + 60000
  if redis.call('PTTL', z) < ttl - 30000 then
    for _, key in ipairs({z, a, t}) do
      redis.call('PEXPIRE', key, ttl)
    end
  end
end
return {1, epoch}
"""

# ARGV: prefix, reservation id, epoch, release count, names..., then triples (name, amount, began_ms).
# A reservation made before Redis lost its state adds only the spends of attempts begun after the
# new epoch started: the counters were rebuilt from the ledger and the attempts then in flight
# (pending rows), which hold the earlier ones.
_SETTLE = """
local p, rid, n = ARGV[1], ARGV[2], tonumber(ARGV[4])
local current = redis.call('GET', p .. 'epoch')
local same_epoch = current == ARGV[3]
local since = 0
if current then
  since = tonumber(string.match(current, ':(%d+)$'))
end
for i = 5, 4 + n do
  local name = ARGV[i]
  local a = p .. 'a:' .. name
  local amt = redis.call('HGET', a, rid)
  if amt then
    redis.call('DECRBY', p .. 't:' .. name, amt)
    redis.call('HDEL', a, rid)
    redis.call('ZREM', p .. 'z:' .. name, rid)
  end
end
for i = 5 + n, #ARGV, 3 do
  local s = p .. 's:' .. ARGV[i]
  local counted = same_epoch or (current and tonumber(ARGV[i + 2]) > since)
  if counted and redis.call('EXISTS', s) == 1 then
    redis.call('INCRBY', s, ARGV[i + 1])
  end
end
return 1
"""

# ARGV: prefix, now_ms, name. Lapsed holds still in the total are left to the next hold script.
_USAGE = """
local p, now, name = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local spent = tonumber(redis.call('GET', p .. 's:' .. name) or '0')
local held = 0
local live = redis.call('ZRANGEBYSCORE', p .. 'z:' .. name, '(' .. now, '+inf')
for _, r in ipairs(live) do
  held = held + tonumber(redis.call('HGET', p .. 'a:' .. name, r) or '0')
end
return {spent, held}
"""


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


class RedisAdmissionStore:
    """The ``AdmissionStore`` port on Redis; ``seed`` reads a counter's start from the ledger."""

    def __init__(
        self,
        client: aioredis.Redis,
        seed: Callable[[Seed], int],
        *,
        prefix: str = "imagegate:",
        settle_retry_s: float = 30.0,
    ) -> None:
        self._client = client
        self._seed = seed
        self._prefix = f"{prefix}{TAG}:"
        self._hold_script = client.register_script(_HOLD)
        self._settle_script = client.register_script(_SETTLE)
        self._usage_script = client.register_script(_USAGE)
        self._settle_retry_s = settle_retry_s
        self._retrying: set[asyncio.Task[None]] = set()
        # The Redis epoch each live reservation was made in (see _SETTLE).
        self._epochs: dict[str, str] = {}

    async def hold(self, reservation_id: str, holds: Sequence[Hold], now: datetime) -> Refusal | None:
        """Add every hold if each fits (one script run); seeds unseeded counters first."""
        args: list[Any] = [_ms(now), reservation_id, len(holds), self._prefix]
        for hold in holds:
            args += [_name(hold.holder, hold.bucket), hold.amount, hold.limit, _ms(hold.expires_at)]
            args.append(0 if hold.seed is None else 1)
        args.append(secrets.token_hex(8))  # the epoch, should this Redis have none yet
        # At most one seeding round per bucket, then the answer is final.
        for _ in range(len(holds) + 1):
            answer = await self._run(self._hold_script, args)
            status = int(answer[0])
            if status == 1:
                # The first hold's epoch is the reservation's (an extension after a loss keeps it).
                self._epochs.setdefault(reservation_id, _text(answer[1]))
                return None
            hold = holds[int(answer[1])]
            if status == -1:
                await self._seed_counter(hold)
                continue
            expiry_ms = int(float(answer[3]))
            next_expiry = None if expiry_ms < 0 else datetime.fromtimestamp(expiry_ms / 1000, UTC)
            return Refusal(hold, int(answer[2]), next_expiry)
        raise AdmissionUnavailable("admission counters could not be seeded")

    async def settle(self, reservation_id: str, release: Sequence[tuple[str, str]], spends: Sequence[Spend]) -> None:
        """Drop holds and add spends; retried in the background while Redis is unreachable."""
        epoch = self._epochs.pop(reservation_id, "")
        args: list[Any] = [self._prefix, reservation_id, epoch, len(release)]
        args += [_name(holder, bucket) for holder, bucket in release]
        for spend in spends:
            began = 0 if spend.began_at is None else _ms(spend.began_at)
            args += [_name(spend.holder, spend.bucket), spend.amount, began]
        try:
            await self._run(self._settle_script, args)
        except AdmissionUnavailable:
            log.warning("admission settle of %s deferred: Redis unreachable", reservation_id)
            task = asyncio.get_running_loop().create_task(self._settle_later(args))
            self._retrying.add(task)
            task.add_done_callback(self._retrying.discard)

    async def usage(self, holder: str, bucket: str, now: datetime) -> tuple[int, int]:
        """``(spent, held)`` of one bucket now."""
        spent, held = await self._run(self._usage_script, [self._prefix, _ms(now), _name(holder, bucket)])
        return int(spent), int(held)

    async def _settle_later(self, args: list[Any]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settle_retry_s
        delay = 0.1
        while loop.time() < deadline:
            await asyncio.sleep(delay)
            try:
                await self._run(self._settle_script, args)
                return
            except AdmissionUnavailable:
                delay = min(delay * 2, 5.0)
        log.error("admission settle of %s dropped: Redis unreachable for %.0f s", args[1], self._settle_retry_s)

    async def _seed_counter(self, hold: Hold) -> None:
        assert hold.seed is not None
        start = await asyncio.to_thread(self._seed, hold.seed)
        key = f"{self._prefix}s:{_name(hold.holder, hold.bucket)}"
        try:
            # Dated periods' counters go after 40 days (a later use reseeds them from the ledger).
            ttl = None if hold.bucket.endswith(":total") else 40 * 86400
            await self._client.set(key, start, nx=True, ex=ttl)
        except (RedisError, OSError) as exc:
            raise AdmissionUnavailable(str(exc)) from exc

    async def _run(self, script: Any, args: list[Any]) -> Any:
        try:
            return await script(args=args)
        except (RedisError, OSError) as exc:
            raise AdmissionUnavailable(f"Redis: {type(exc).__name__}") from exc


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _name(holder: str, bucket: str) -> str:
    return f"{holder}:{bucket}"
