"""What each case of the fault mix should do: the intended behaviour (issue 8), not today's.

Per directive and lane: the HTTP status the client gets, the ledger's ``error_code`` for every
attempt (``None`` for ``ok``), how many provider calls one request makes, whether the failure
arrives inside a stream that already answered 200, and which billing rule the rows follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from tests.reliability.fault_mix import MAX_ATTEMPTS, Case


class Billing(Enum):
    """The cost rule an attempt's row follows, by what the provider did."""

    PRICED = "priced"  # an image was delivered: settled from the provider's usage, above zero, not estimated
    USAGE = "usage"  # the provider answered 200 without an image: settled from its usage (may be 0), not estimated
    FREE = "free"  # the provider refused with an error status: nothing billed, 0, not estimated
    POSSIBLY_BILLED = "possibly-billed"  # the provider may have billed (timed out, cut off): the quote, estimated
    UNKNOWN = "unknown"  # no rule is stated (a reset before any byte, an error event mid-stream): never negative


@dataclass(frozen=True)
class Expected:
    """What one request of a case should leave behind."""

    client_status: int
    error_code: str | None
    attempts: int
    billing: Billing
    mid_stream_error: bool = False  # 200, then an error event after the stream began

    @property
    def answered(self) -> bool:
        """The client got an answer in its dialect's success shape (possibly with no image in it)."""
        return self.client_status == 200 and not self.mid_stream_error


def _ok() -> Expected:
    return Expected(200, None, 1, Billing.PRICED)


def _unavailable_status(case: Case) -> int:
    # Google's dialects say UNAVAILABLE as 503; OpenAI's says 502 Bad Gateway.
    return 502 if case.lane.dialect == "openai" else 503


def _refused_answer(case: Case, code: str) -> Expected:
    """The provider refused to make an image: OpenAI with a 400, Google with a 200 that holds none."""
    billing = Billing.FREE if case.lane.provider == "openai" else Billing.USAGE
    if case.lane.dialect != "openai":
        # Google's dialects report a blocked prompt or a missing image as a 200 answer, as Google does.
        return Expected(200, code, 1, billing)
    return Expected(400 if code == "moderation_blocked" else 502, code, 1, billing)


def expected(case: Case) -> Expected:
    """The intended outcome of one request of ``case``."""
    lane, name = case.lane, case.name
    if name in ("clean", "slow", "moderation-item"):
        return _ok()  # moderation-item only affects the Responses API; Images answers are normal
    if name == "moderation":
        return _refused_answer(case, "moderation_blocked")
    if name == "prohibited":
        return _refused_answer(case, "moderation_blocked") if lane.provider == "gemini" else _ok()
    if name == "no-image":
        return _refused_answer(case, "no_image_generated") if lane.provider == "gemini" else _ok()
    if name == "filtered":
        # One sample was asked for, and the filter takes the last one: nothing is left.
        return _refused_answer(case, "moderation_blocked") if lane.provider == "imagen" else _ok()
    if name == "429":
        return Expected(429, "rate_limited", MAX_ATTEMPTS, Billing.FREE)
    if name == "quota":
        return Expected(429, "quota_exhausted", 1, Billing.FREE)
    if name == "401":
        return Expected(502, "upstream_authentication", 1, Billing.FREE)
    if name in ("500", "502", "503"):
        return Expected(_unavailable_status(case), "upstream_unavailable", MAX_ATTEMPTS, Billing.FREE)
    if name == "reset":
        return Expected(_unavailable_status(case), "upstream_unavailable", MAX_ATTEMPTS, Billing.UNKNOWN)
    if name == "hang":
        return Expected(504, "timeout", MAX_ATTEMPTS, Billing.POSSIBLY_BILLED)
    if name in ("truncated", "malformed"):
        if lane.native_stream:
            return Expected(200, "upstream_bad_response", 1, Billing.POSSIBLY_BILLED, mid_stream_error=True)
        return Expected(502, "upstream_bad_response", MAX_ATTEMPTS, Billing.POSSIBLY_BILLED)
    if name == "stream-error":
        if lane.native_stream:
            return Expected(200, "upstream_unavailable", 1, Billing.UNKNOWN, mid_stream_error=True)
        return _ok()  # a directive for streams only
    raise AssertionError(f"no expectation for directive {case.directive!r}")
