from imagegate.domain import errors as e
from imagegate.routing.retry import RetryPolicy, backoff_delay, may_fall_back, next_delay

POLICY = RetryPolicy(max_attempts_per_route=3, base_delay_s=1.0, max_delay_s=8.0, deadline_s=100.0)


def test_backoff_is_exponential_capped_and_jittered():
    assert [backoff_delay(POLICY, n, lambda: 1.0) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert backoff_delay(POLICY, 3, lambda: 0.25) == 1.0


def test_provider_hint_wins_and_the_deadline_is_respected():
    limited = e.RateLimited("slow down", retry_after=7.0)
    assert next_delay(POLICY, limited, 1, remaining_s=50.0, random_unit=lambda: 1.0) == 7.0
    assert next_delay(POLICY, limited, 1, remaining_s=5.0) is None


def test_attempt_cap_and_non_retryable_errors():
    flaky = e.UpstreamUnavailable("503")
    assert next_delay(POLICY, flaky, 2, remaining_s=50.0, random_unit=lambda: 1.0) == 2.0
    assert next_delay(POLICY, flaky, 3, remaining_s=50.0) is None
    for error in (e.ModerationBlocked("no"), e.ProviderInvalidRequest("bad"), e.QuotaExhausted("broke")):
        assert next_delay(POLICY, error, 1, remaining_s=50.0) is None


def test_fallback_rules():
    assert may_fall_back(POLICY, e.UpstreamTimeout("slow"))
    # Route faults that retrying the same route cannot fix still move on to the next route.
    for error in (
        e.ProviderAuthentication("key"),
        e.ProviderPermission("no"),
        e.ProviderNotFound("?"),
        e.QuotaExhausted("broke"),
    ):
        assert not error.retryable and may_fall_back(POLICY, error)
    assert not may_fall_back(POLICY, e.ProviderInvalidRequest("bad"))
    assert not may_fall_back(POLICY, e.NoImageGenerated("text only"))
    assert not may_fall_back(POLICY, e.ModerationBlocked("no"))
    assert may_fall_back(RetryPolicy(fallback_on_moderation=True), e.ModerationBlocked("no"))
