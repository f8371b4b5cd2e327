"""The authenticator's caches: known keys stay cached, unknown secrets are an LRU of bounded size."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from imagegate.accounting.auth import KeyAuthenticator
from imagegate.accounting.keys import hash_key
from imagegate.accounting.ports import ApiKeyRecord
from imagegate.domain.errors import AuthenticationFailed

REAL = "ig-real-key"


class CountingKeys:
    """A key store with one key that counts its lookups per secret hash."""

    def __init__(self) -> None:
        self.lookups: dict[str, int] = {}
        self.record = ApiKeyRecord(
            id=1, name="real", prefix="ig-real", key_hash=hash_key(REAL), models=None, created_at=datetime.now(UTC)
        )

    def key_by_hash(self, digest: str) -> ApiKeyRecord | None:
        self.lookups[digest] = self.lookups.get(digest, 0) + 1
        return self.record if digest == self.record.key_hash else None

    def looked_up(self, secret: str) -> int:
        return self.lookups.get(hash_key(secret), 0)


async def _refused(authenticator: KeyAuthenticator, secret: str) -> None:
    with pytest.raises(AuthenticationFailed):
        await authenticator.authenticate(secret)


async def test_unknown_secrets_are_bounded_and_least_recently_used_evicted():
    keys = CountingKeys()
    authenticator = KeyAuthenticator(keys, cache_ttl_s=60, negative_entries=3)  # type: ignore[arg-type]
    for secret in ("a", "b", "c"):
        await _refused(authenticator, secret)
    await _refused(authenticator, "a")  # a hit: "a" becomes the most recently used
    assert keys.looked_up("a") == 1
    await _refused(authenticator, "d")  # evicts "b", the least recently used
    assert authenticator.unknown_entries() == 3
    await _refused(authenticator, "a")
    await _refused(authenticator, "b")
    assert (keys.looked_up("a"), keys.looked_up("b")) == (1, 2)


async def test_a_flood_of_unknown_secrets_neither_grows_the_cache_nor_evicts_real_keys():
    keys = CountingKeys()
    authenticator = KeyAuthenticator(keys, cache_ttl_s=60, negative_entries=100)  # type: ignore[arg-type]
    assert (await authenticator.authenticate(REAL)).key_id == 1
    for index in range(1000):
        await _refused(authenticator, f"random-{index}")
    assert authenticator.unknown_entries() == 100
    assert (await authenticator.authenticate(REAL)).key_id == 1
    assert keys.looked_up(REAL) == 1


class SlowKeys(CountingKeys):
    """Lookups that take a moment, as a database's do, so requests can pile up behind one."""

    def key_by_hash(self, digest: str) -> ApiKeyRecord | None:
        time.sleep(0.05)
        return super().key_by_hash(digest)


async def test_requests_arriving_together_for_an_expired_key_share_one_lookup():
    clock = [0.0]
    keys = SlowKeys()
    authenticator = KeyAuthenticator(keys, cache_ttl_s=5, clock=lambda: clock[0])  # type: ignore[arg-type]
    assert (await authenticator.authenticate(REAL)).key_id == 1
    clock[0] = 6.0  # the entry expired: the next requests all miss at once
    principals = await asyncio.gather(*(authenticator.authenticate(REAL) for _ in range(32)))
    assert {principal.key_id for principal in principals} == {1}
    assert keys.looked_up(REAL) == 2  # the first request's, then one for all 32


async def test_a_waiter_that_goes_away_does_not_cancel_the_shared_lookup():
    keys = SlowKeys()
    authenticator = KeyAuthenticator(keys, cache_ttl_s=5)  # type: ignore[arg-type]
    leaving = asyncio.ensure_future(authenticator.authenticate(REAL))
    staying = asyncio.ensure_future(authenticator.authenticate(REAL))
    await asyncio.sleep(0.01)
    leaving.cancel()
    assert (await staying).key_id == 1
    assert keys.looked_up(REAL) == 1
