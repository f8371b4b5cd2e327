import asyncio

import pytest

from imagegate.service.idempotency import (
    IdempotencyConflict,
    IdempotencyLimits,
    IdempotentRunner,
    LocalIdempotencyStore,
    ResponseUnavailable,
    StoredResponse,
)

OK = StoredResponse(200, (("x-request-id", "req_1"),), b'{"data": []}', "application/json")


async def test_concurrent_duplicates_run_once_and_share_the_result():
    runner = IdempotentRunner(LocalIdempotencyStore(), poll_s=0.001)
    calls = 0

    async def produce():
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return OK

    results = await asyncio.gather(*[runner.run("k1", "abc", "fp", produce) for _ in range(5)])
    assert calls == 1
    assert all(response == OK for response, _ in results)
    assert sorted(replayed for _, replayed in results) == [False, True, True, True, True]
    again, replayed = await runner.run("k1", "abc", "fp", produce)
    assert (again, replayed, calls) == (OK, True, 1)


async def test_scopes_are_separate_and_a_different_body_conflicts():
    runner = IdempotentRunner(LocalIdempotencyStore())

    async def produce():
        return OK

    await runner.run("key-a", "same", "fp1", produce)
    assert (await runner.run("key-b", "same", "fp2", produce))[1] is False
    with pytest.raises(IdempotencyConflict) as info:
        await runner.run("key-a", "same", "fp2", produce)
    assert info.value.param == "Idempotency-Key"


async def test_a_transient_failure_reaches_the_waiting_duplicates_and_a_later_retry_runs():
    runner = IdempotentRunner(LocalIdempotencyStore(), poll_s=0.001)
    failure = StoredResponse(502, (("x-request-id", "req_f"),), b'{"error": {}}', "application/json")
    calls = 0

    async def fails_slowly():
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return failure

    results = await asyncio.gather(*[runner.run("k", "x", "fp", fails_slowly) for _ in range(20)])
    assert calls == 1
    assert all(response == failure for response, _ in results)

    async def succeeds():
        return OK

    assert await runner.run("k", "x", "fp", succeeds) == (OK, False)


async def test_a_crash_releases_the_key():
    async def crash():
        raise RuntimeError("boom")

    async def produce():
        return OK

    store = LocalIdempotencyStore()
    crashing = IdempotentRunner(store)
    with pytest.raises(RuntimeError):
        await crashing.run("k", "y", "fp", crash)
    assert (await store.peek("k:y")).kind == "new"
    assert (await crashing.run("k", "y", "fp", produce)) == (OK, False)


async def test_the_owner_renews_its_lease_while_it_runs_and_a_dead_owners_claim_expires():
    store = LocalIdempotencyStore()
    runner = IdempotentRunner(store, lease_s=0.15, poll_s=0.005)
    calls = 0

    async def slow():
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.5)  # over three leases: only renewal keeps the claim
        return OK

    results = await asyncio.gather(
        runner.run("k", "long", "fp", slow), _later(0.3, runner.run("k", "long", "fp", slow))
    )
    assert calls == 1 and [replayed for _, replayed in results] == [False, True]

    await store.claim("k:dead", "fp", "a-replica-that-died", 0.15)  # never renewed, never released

    async def produce():
        return OK

    assert await runner.run("k", "dead", "fp", produce) == (OK, False)


async def _later(delay: float, awaitable):
    await asyncio.sleep(delay)
    return await awaitable


async def test_a_response_too_large_to_keep_is_refused_on_replay_not_run_again():
    runner = IdempotentRunner(LocalIdempotencyStore(IdempotencyLimits(max_entry_bytes=100)))
    big = StoredResponse(200, (("x-request-id", "req_big"),), b"x" * 101, "application/json")
    calls = 0

    async def produce():
        nonlocal calls
        calls += 1
        return big

    assert await runner.run("k", "big", "fp", produce) == (big, False)
    with pytest.raises(ResponseUnavailable) as info:
        await runner.run("k", "big", "fp", produce)
    assert info.value.param == "Idempotency-Key" and "req_big" in info.value.message and calls == 1


async def test_window_expiry():
    now = [0.0]
    store = LocalIdempotencyStore(clock=lambda: now[0])
    runner = IdempotentRunner(store, window_s=10)

    async def produce():
        return OK

    await runner.run("k", "z", "fp", produce)
    now[0] = 11.0
    assert (await runner.run("k", "z", "fp", produce))[1] is False
