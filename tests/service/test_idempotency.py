import asyncio

import pytest

from imagegate.service.idempotency import (
    IdempotencyConflict,
    IdempotentRunner,
    LocalIdempotencyStore,
    StoredResponse,
    fingerprint,
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


async def test_transient_failures_and_crashes_release_the_key():
    runner = IdempotentRunner(LocalIdempotencyStore())
    outcomes = [StoredResponse(502, (), b"{}", "application/json"), OK]

    async def produce():
        return outcomes.pop(0)

    first, _ = await runner.run("k", "x", "fp", produce)
    second, replayed = await runner.run("k", "x", "fp", produce)
    assert (first.status, second.status, replayed) == (502, 200, False)

    async def crash():
        raise RuntimeError("boom")

    store = LocalIdempotencyStore()
    crashing = IdempotentRunner(store)
    with pytest.raises(RuntimeError):
        await crashing.run("k", "y", "fp", crash)
    assert (await store.peek("k:y")).kind == "new"
    outcomes.append(OK)
    assert (await crashing.run("k", "y", "fp", produce)) == (OK, False)


async def test_window_expiry():
    now = [0.0]
    store = LocalIdempotencyStore(clock=lambda: now[0])
    runner = IdempotentRunner(store, window_s=10)

    async def produce():
        return OK

    await runner.run("k", "z", "fp", produce)
    now[0] = 11.0
    assert (await runner.run("k", "z", "fp", produce))[1] is False


def test_fingerprint_covers_method_path_and_body():
    base = fingerprint("POST", "/v1/images/generations", b"{}")
    assert base != fingerprint("POST", "/v1/images/edits", b"{}")
    assert base != fingerprint("POST", "/v1/images/generations", b"{ }")
    assert base == fingerprint("POST", "/v1/images/generations", b"{}")
