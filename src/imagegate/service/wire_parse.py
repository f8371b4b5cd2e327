"""The one place a provider's answer is read: any failure to read it is the provider's bad response.

Adapters raise ``UpstreamBadResponse`` for the shapes they anticipate; an answer they did not
anticipate (a field of the wrong type, a list of numbers where objects belong) must not escape as
an ``AttributeError`` and a bare 500 with the attempt unrecorded. Everything the pipeline asks an
adapter to parse goes through here, so such a failure becomes ``UpstreamBadResponse`` (502 in the
client's dialect) carrying the provider's status and request id, and is recorded like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from imagegate.domain.errors import ProviderError, UpstreamBadResponse
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult
from imagegate.providers.base import WireResponse
from imagegate.service.plan import PlannedRoute

T = TypeVar("T")


def bad_response(exc: Exception, status: int | None, request_id: str | None) -> UpstreamBadResponse:
    """An unanticipated parse failure as the provider's bad response (the exception's type only, no payload)."""
    return UpstreamBadResponse(
        f"the provider's answer could not be read ({type(exc).__name__})",
        provider_status=status,
        provider_request_id=request_id,
    )


def read_answer(response: WireResponse, parse: Callable[[], T], request_id: str | None) -> T:
    """``parse()`` the provider's ``response``; failures become ``UpstreamBadResponse`` with its status and id.

    ``request_id`` is the adapter's ``provider_request_id`` for the response's headers. A
    ``ProviderError`` the adapter raised keeps its class and gains the status and id it lacked.
    """
    try:
        return parse()
    except ProviderError as error:
        if error.provider_status is None:
            error.provider_status = response.status
        if error.provider_request_id is None:
            error.provider_request_id = request_id
        raise
    except Exception as exc:
        raise bad_response(exc, response.status, request_id) from exc


def image_result(route: PlannedRoute, request: ImageRequest, response: WireResponse, *, keep_raw: bool) -> ImageResult:
    """A whole answer of ``route`` as a result, or (non-2xx) the domain error it stands for, raised."""
    request_id = route.adapter.provider_request_id(response.headers)
    if response.status >= 300:
        raise read_answer(response, lambda: route.adapter.error_from_wire(response), request_id)
    return read_answer(
        response, lambda: route.adapter.result_from_wire(response, request, route.target, keep_raw=keep_raw), request_id
    )
