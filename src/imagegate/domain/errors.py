"""The error tree every layer speaks; dialects render it, adapters produce it.

    ImagegateError
    ├── ClientError                     the caller's request cannot be served as sent (never retried)
    │   ├── InvalidRequest              400, names the offending ``param``
    │   │   ├── MissingParameter        a required field is absent
    │   │   └── UnknownParameter        a field the dialect does not define
    │   ├── AuthenticationFailed        401, missing/unknown/revoked/expired gateway key
    │   ├── PermissionDenied            403, key not allowed this model
    │   ├── ModelNotFound               404-ish: unknown alias (rendered as 400 ``param=model`` by OpenAI)
    │   ├── ResourceNotFound            404: no such object (a run, a job) visible to this caller
    │   ├── ModelRetired                the model is past its shutdown date and the operator refuses it
    │   ├── PayloadTooLarge             413, body over the configured limit
    │   ├── ClientGone                  the client hung up (nothing is sent back)
    │   ├── RequestExceedsLimit         the request alone is larger than a whole budget or quota (never admitted)
    │   └── LimitExceeded               429: a key's or team's limit refuses the request for now
    │       ├── BudgetExceeded          the USD budget of the period is spent or reserved
    │       ├── ImageQuotaExceeded      the image quota of the period is used or reserved
    │       ├── RateLimitExceeded       requests or images per minute
    │       └── ConcurrencyLimitExceeded  too many requests in flight
    ├── GatewayUnavailable              503 + ``retry_after``: the gateway itself is busy or shutting down
    └── ProviderError                   an attempt that reached (or tried to reach) a provider failed
        ├── ProviderInvalidRequest      the provider refused the parameters (400/422)
        ├── ProviderAuthentication      the route's provider credential was refused (a gateway misconfiguration)
        ├── ProviderPermission          the provider refuses this model for this account
        ├── ProviderNotFound            the provider does not know the model/endpoint
        ├── ModerationBlocked           input or output blocked by the provider's safety system
        ├── NoImageGenerated            the provider answered without any image (e.g. text only)
        ├── RateLimited                 429; ``retry_after`` seconds when the provider said so
        ├── QuotaExhausted              out of credits / quota (not retryable)
        ├── UpstreamTimeout             no answer within the deadline
        ├── UpstreamUnavailable         5xx, connection refused or reset
        │   └── CircuitOpen             every route's breaker refused the call (no provider was called)
        └── UpstreamBadResponse         truncated, malformed or unparseable body

Each class carries a stable ``code`` (the ledger's ``error_code``) and whether retrying the same
route may help (``retryable``). Dialects choose status codes and shapes; nothing here knows them.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from imagegate.domain.limits import Headroom
from imagegate.domain.result import Usage


class ImagegateError(Exception):
    """Base of every error the gateway raises on purpose."""

    code: str = "internal_error"
    retryable: bool = False

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class ClientError(ImagegateError):
    """The caller's request cannot be served as sent."""


class InvalidRequest(ClientError):
    code = "invalid_request"


class MissingParameter(InvalidRequest):
    """A required field is absent (OpenAI's ``missing_required_parameter``)."""

    code = "missing_required_parameter"


class UnknownParameter(InvalidRequest):
    """A field the client's dialect does not define (OpenAI's ``unknown_parameter``)."""

    code = "unknown_parameter"


class AuthenticationFailed(ClientError):
    code = "invalid_api_key"


class PermissionDenied(ClientError):
    code = "model_not_allowed"


class ModelNotFound(ClientError):
    code = "model_not_found"


class ResourceNotFound(ClientError):
    """No object with that id that this caller may see (never says whether it exists for others)."""

    code = "not_found"


class PayloadTooLarge(ClientError):
    code = "payload_too_large"


class ClientGone(ClientError):
    """The client disconnected; the answer is rendered only for the log (nobody reads it)."""

    code = "client_disconnected"


class RequestExceedsLimit(ClientError):
    """The request's quote (or image count) alone is more than a whole budget (or quota) allows.

    Waiting does not help, so it is not a 429: the client must ask for less or the operator raise the limit.
    """

    code = "request_exceeds_budget"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message, param=param)
        if code is not None:
            self.code = code


class LimitExceeded(ClientError):
    """A key's or team's limit refuses the request now; nothing was sent to a provider.

    ``holder`` is ``key`` or ``team``; ``retry_after`` is set where waiting helps (rate and
    concurrency limits, a budget period about to roll over); ``headroom`` feeds the dialect's
    rate-limit headers.
    """

    code = "rate_limit_exceeded"

    def __init__(
        self, message: str, *, holder: str, retry_after: float | None = None, headroom: Headroom | None = None
    ) -> None:
        super().__init__(message)
        self.holder = holder
        self.retry_after = retry_after
        self.headroom = headroom if headroom is not None else Headroom()


class BudgetExceeded(LimitExceeded):
    code = "budget_exceeded"


class ImageQuotaExceeded(LimitExceeded):
    code = "image_quota_exceeded"


class RateLimitExceeded(LimitExceeded):
    code = "rate_limit_exceeded"


class ConcurrencyLimitExceeded(LimitExceeded):
    code = "concurrency_limit_exceeded"


class GatewayUnavailable(ImagegateError):
    """The gateway refuses work for now (in-flight budget spent, or draining for shutdown); no provider was paid."""

    code = "gateway_unavailable"
    retryable = True

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelRetired(ClientError):
    """The model was shut down on ``shutdown_on``; ``replacement`` is what to ask for instead."""

    code = "model_retired"

    def __init__(
        self, message: str, *, model: str, shutdown_on: date | None = None, replacement: str | None = None
    ) -> None:
        super().__init__(message, param="model")
        self.model = model
        self.shutdown_on = shutdown_on
        self.replacement = replacement


class ProviderError(ImagegateError):
    """An attempt at a provider failed; carries what the provider told us, never its credentials."""

    code = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        provider_status: int | None = None,
        provider_request_id: str | None = None,
        provider_code: str | None = None,
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
        usage: Usage | None = None,
    ) -> None:
        super().__init__(message, param=param)
        self.provider_status = provider_status
        self.provider_request_id = provider_request_id
        self.provider_code = provider_code
        self.retry_after = retry_after
        self.details = details or {}
        # What the provider billed for an answer that still failed (a blocked prompt, no image).
        self.usage = usage


class ProviderInvalidRequest(ProviderError):
    code = "invalid_request"


class ProviderAuthentication(ProviderError):
    code = "upstream_authentication"


class ProviderPermission(ProviderError):
    code = "upstream_permission"


class ProviderNotFound(ProviderError):
    code = "upstream_not_found"


class ModerationBlocked(ProviderError):
    code = "moderation_blocked"


class NoImageGenerated(ProviderError):
    code = "no_image_generated"


class RateLimited(ProviderError):
    code = "rate_limited"
    retryable = True


class QuotaExhausted(ProviderError):
    code = "quota_exhausted"


class UpstreamTimeout(ProviderError):
    code = "timeout"
    retryable = True


class UpstreamUnavailable(ProviderError):
    code = "upstream_unavailable"
    retryable = True


class CircuitOpen(UpstreamUnavailable):
    """Every route's circuit is open; ``retry_after`` is the seconds until the first one half-opens."""

    code = "circuit_open"


class UpstreamBadResponse(ProviderError):
    code = "upstream_bad_response"
    retryable = True
