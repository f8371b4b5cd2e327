from imagegate.routing.breaker import BreakerConfig, BreakerState, LocalBreakerStore, admit, record, release

CONFIG = BreakerConfig(
    consecutive_failures=3,
    failure_rate=0.5,
    min_calls=6,
    window_s=60.0,
    cooldown_s=30.0,
    probe_timeout_s=100.0,
    half_open_probes=1,
)


def run(outcomes, start=0.0):
    state = BreakerState()
    now = start
    for success in outcomes:
        now += 1.0
        state = record(CONFIG, state, now, success=success)
    return state, now


def test_consecutive_failures_open_the_breaker():
    state, _ = run([True, False, False])
    assert state.state == "closed"
    state, _ = run([True, False, False, False])
    assert state.state == "open"


def test_failure_rate_over_enough_calls_opens_it():
    # Only a failure can trip it: the sixth call fails, making 3 failures in 6 calls.
    state, _ = run([True, False, True, False, True, False])
    assert state.state == "open" and state.consecutive_failures == 1
    not_on_success, _ = run([False, True, False, True, False, True])
    assert not_on_success.state == "closed"
    few, _ = run([False, True, False])
    assert few.state == "closed"


def test_old_failures_leave_the_window():
    state = BreakerState()
    for now, success in [(1, False), (2, True), (3, False), (4, True), (5, False)]:
        state = record(CONFIG, state, float(now), success=success)
    state = record(CONFIG, state, 100.0, success=False)
    assert (state.state, state.window_calls, state.window_failures) == ("closed", 1, 1)


def test_open_refuses_until_cooldown_then_admits_one_probe():
    state, now = run([False, False, False])
    assert state.state == "open"
    refused, state = admit(CONFIG, state, now + 10)
    assert not refused.allowed and refused.retry_after_s == 20.0
    admission, state = admit(CONFIG, state, now + 31)
    assert admission.allowed and admission.probe and state.state == "half_open"
    second, state = admit(CONFIG, state, now + 32)
    assert not second.allowed and second.retry_after_s is not None


def test_half_open_admits_the_configured_number_of_probes():
    config = BreakerConfig(consecutive_failures=3, cooldown_s=30.0, half_open_probes=3)
    state = BreakerState()
    for now in (1.0, 2.0, 3.0):
        state = record(config, state, now, success=False)
    allowed = []
    for offset in range(5):
        admission, state = admit(config, state, 40.0 + offset)
        allowed.append(admission.allowed)
    assert allowed == [True, True, True, False, False] and state.probes == 3


def test_a_released_probe_frees_its_slot_and_a_closed_breaker_ignores_release():
    state, now = run([False, False, False])
    _, probing = admit(CONFIG, state, now + 31)
    assert not admit(CONFIG, probing, now + 32)[0].allowed
    released = release(probing)
    assert released.state == "half_open" and released.probes == 0 and released.probe_started_at is None
    assert admit(CONFIG, released, now + 33)[0].probe
    assert release(BreakerState()) == BreakerState()


def test_probe_outcome_closes_or_reopens():
    state, now = run([False, False, False])
    _, probing = admit(CONFIG, state, now + 31)
    assert record(CONFIG, probing, now + 35, success=True).state == "closed"
    reopened = record(CONFIG, probing, now + 35, success=False)
    assert reopened.state == "open" and reopened.opened_at == now + 35


def test_lost_probe_is_replaced_after_its_timeout():
    state, now = run([False, False, False])
    _, probing = admit(CONFIG, state, now + 31)
    assert admit(CONFIG, probing, now + 131)[0].allowed


async def test_local_store_applies_the_rules_per_route():
    store = LocalBreakerStore(CONFIG)
    for now in (1.0, 2.0, 3.0):
        assert (await store.admit("a", now)).allowed
        await store.record("a", now, success=False)
    assert not (await store.admit("a", 4.0)).allowed
    assert (await store.admit("b", 4.0)).allowed
    assert (await store.state("a")).state == "open" and (await store.state("b")).state == "closed"
