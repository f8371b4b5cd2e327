"""Google error bodies -> domain errors, by status, RPC status and details (never by message)."""

from __future__ import annotations

import orjson
import pytest

from imagegate.domain import errors as e
from imagegate.providers.google.errors import duration_seconds, error_from_response


def _body(code: int, status: str, *details: dict, message: str = "whatever the text says") -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message, "status": status, "details": list(details)}})


RETRY = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "27s"}


def _quota(quota_id: str) -> dict:
    return {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaId": quota_id, "quotaMetric": "m", "quotaValue": "10"}],
    }


def test_rate_limit_takes_its_delay_from_retry_info_not_a_header():
    error = error_from_response(429, {}, _body(429, "RESOURCE_EXHAUSTED", _quota("GenerateRequestsPerMinute"), RETRY))
    assert isinstance(error, e.RateLimited) and error.retry_after == 27.0
    assert error.provider_code == "RESOURCE_EXHAUSTED"
    assert error.details["quota_violations"][0]["quotaId"] == "GenerateRequestsPerMinute"


def test_retry_after_header_is_the_fallback():
    error = error_from_response(429, {"retry-after": "3"}, _body(429, "RESOURCE_EXHAUSTED"))
    assert isinstance(error, e.RateLimited) and error.retry_after == 3.0


def test_a_daily_quota_without_retry_hint_is_exhausted_not_rate_limited():
    error = error_from_response(429, {}, _body(429, "RESOURCE_EXHAUSTED", _quota("GenerateRequestsPerDayPerProject")))
    assert isinstance(error, e.QuotaExhausted) and not error.retryable


@pytest.mark.parametrize(
    ("status", "rpc", "details", "cls"),
    [
        (400, "INVALID_ARGUMENT", [], e.ProviderInvalidRequest),
        (
            400,
            "INVALID_ARGUMENT",
            [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
            e.ProviderAuthentication,
        ),
        (401, "UNAUTHENTICATED", [], e.ProviderAuthentication),
        (403, "PERMISSION_DENIED", [], e.ProviderPermission),
        (
            403,
            "PERMISSION_DENIED",
            [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "BILLING_DISABLED"}],
            e.QuotaExhausted,
        ),
        (404, "NOT_FOUND", [], e.ProviderNotFound),
        (500, "INTERNAL", [], e.UpstreamUnavailable),
        (503, "UNAVAILABLE", [], e.UpstreamUnavailable),
        (504, "DEADLINE_EXCEEDED", [], e.UpstreamTimeout),
    ],
)
def test_classes_by_status_and_structured_body(status, rpc, details, cls):
    error = error_from_response(status, {}, _body(status, rpc, *details))
    assert type(error) is cls
    assert error.message == "whatever the text says" and error.provider_status == status


@pytest.mark.parametrize(
    ("status", "cls"), [(502, e.UpstreamUnavailable), (404, e.ProviderNotFound), (418, e.UpstreamBadResponse)]
)
def test_an_unreadable_body_maps_by_status_alone(status, cls):
    assert type(error_from_response(status, {}, b"<html>oops</html>")) is cls


def test_durations():
    assert duration_seconds("1.5s") == 1.5 and duration_seconds("0s") == 0.0
    assert duration_seconds("27") is None and duration_seconds(27) is None
