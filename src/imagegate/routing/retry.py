"""When to try again: capped attempts, exponential backoff with full jitter, provider hints honoured.

Pure decisions; the service owns the clock and the sleeping. Image calls are slow, so the policy
works within a per-request deadline (minutes) rather than a chat-style 30 s.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from imagegate.domain.errors import ImagegateError, ModerationBlocked
from imagegate.routing.breaker import is_route_fault


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times one route is tried, how long to wait between tries, and the overall deadline."""

    max_attempts_per_route: int = 2
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    deadline_s: float = 600.0
    fallback_on_moderation: bool = False


def backoff_delay(policy: RetryPolicy, retry_number: int, random_unit: Callable[[], float] = random.random) -> float:
    """Full-jitter exponential backoff for the ``retry_number``-th retry (1-based)."""
    ceiling = min(policy.max_delay_s, policy.base_delay_s * (2.0 ** (retry_number - 1)))
    return ceiling * random_unit()


def next_delay(
    policy: RetryPolicy,
    error: ImagegateError,
    retry_number: int,
    remaining_s: float,
    random_unit: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait before retrying the same route, or None when it should not be retried.

    A provider's own hint (``Retry-After``, Google ``RetryInfo``) wins over the backoff; a wait
    that would not leave time for another attempt within the deadline means "don't".
    """
    if not error.retryable or retry_number >= policy.max_attempts_per_route:
        return None
    hint = getattr(error, "retry_after", None)
    delay = hint if hint is not None else backoff_delay(policy, retry_number, random_unit)
    if delay >= remaining_s:
        return None
    return delay


def may_fall_back(policy: RetryPolicy, error: ImagegateError) -> bool:
    """Whether another route may be tried after ``error`` exhausted this one.

    Any fault of the route (refused credential, model not available to the account, quota
    exhausted, as well as the retryable ones) moves on to the next route; the caller's own
    problems (invalid parameters) never do, and moderation only when the operator allows it.
    """
    if isinstance(error, ModerationBlocked):
        return policy.fallback_on_moderation
    return is_route_fault(error)
