"""One call to a provider for the pipeline: the wire request built and authorized, then the answer
read whole (``exchange``) or opened for its body to pass through (``open``).

Kept apart from the attempt loop (``service.images``), which decides what to call and records it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from imagegate.domain.errors import ImagegateError, InvalidRequest, ProviderError
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult
from imagegate.providers.accepted_task import AcceptedTask, TaskAccepted
from imagegate.providers.base import WireRequest, WireResponse
from imagegate.providers.http import HttpExecutor, StreamingResponse
from imagegate.providers.polling import Poller
from imagegate.service.plan import PlannedRoute
from imagegate.service.wire_parse import image_result, read_answer

log = logging.getLogger("imagegate.service")

# A 2xx body declared no larger than this is read whole before answering, so a bad one still gets
# a retry and a 502, and its cost a header; a larger one (or one of unknown length) passes through.
PASSTHROUGH_MIN_BYTES = 256 * 1024


@dataclass(slots=True)
class Attempt:
    """One attempt as the call sees it: its number, and what the provider said of it so far."""

    number: int
    # The id of a task a submit-and-poll host accepted, so that an attempt cut short while polling
    # (client gone, server stopping) still names the task that may go on running and billing.
    task_id: str | None = None
    # Where the attempt loop stands: earlier failed tries on this route, routes already left behind
    # (kept with an accepted task, so a resume carries on from there).
    retries: int = 0
    tried: tuple[str, ...] = ()
    # A task accepted before a restart (``AcceptedTask.document()``): this attempt polls it, sending nothing.
    resume: dict[str, Any] | None = None


class ProviderCalls:
    """Builds, sends and reads one provider call over the shared executor."""

    def __init__(self, http: HttpExecutor, *, passthrough_min_bytes: int = PASSTHROUGH_MIN_BYTES) -> None:
        self._http = http
        self.poller = Poller(http)
        self._passthrough_min_bytes = passthrough_min_bytes

    async def wire(self, route: PlannedRoute, request: ImageRequest) -> WireRequest:
        """The provider's request for ``request``, credentials included; unsendable input is a 400."""
        try:
            wire = route.adapter.request_to_wire(request, route.target)
        except ImagegateError:
            raise
        except Exception as exc:
            # Input the provider's wire format cannot carry (a JSON value nested past the serialiser's limit).
            log.warning("request cannot be sent to route %s: %s", route.target.name, type(exc).__name__)
            raise InvalidRequest(
                f"The request cannot be sent to the provider as given ({type(exc).__name__}: {exc})."
            ) from None
        # The one adapter hook that may do I/O: OAuth tokens for routes that need them.
        await route.adapter.authorize(wire, route.target, self._http)
        return wire

    async def exchange(
        self,
        route: PlannedRoute,
        request: ImageRequest,
        *,
        keep_raw: bool,
        attempt: Attempt,
        keeper: TaskAccepted | None = None,
    ) -> tuple[WireResponse, ImageResult]:
        """One call whose answer is read whole: the response and its parsed result; an error answer raises.

        A task a submit-and-poll host accepted is noted on ``attempt`` and handed to ``keeper``
        (a job keeping it to resume), both before its first poll.
        """

        async def on_accepted(task: AcceptedTask) -> None:
            attempt.task_id = task.task.id
            if keeper is not None:
                await keeper(task)

        wire = await self.wire(route, request)
        # One call for the service whether the host answers at once or is polled (providers.polling).
        response = await self.poller.exchange(route.adapter, wire, route.target, on_accepted=on_accepted)
        return response, image_result(route, request, response, keep_raw=keep_raw)

    async def resume(
        self, route: PlannedRoute, request: ImageRequest, *, keep_raw: bool, attempt: Attempt
    ) -> tuple[WireResponse, ImageResult]:
        """Poll the task ``attempt.resume`` (accepted before a restart) to its end, parsed like ``exchange``."""
        assert attempt.resume is not None
        accepted = AcceptedTask.from_document(attempt.resume)
        attempt.task_id = accepted.task.id
        response = await self.poller.resume(route.adapter, accepted, route.target)
        return response, image_result(route, request, response, keep_raw=keep_raw)

    async def open(self, route: PlannedRoute, request: ImageRequest) -> StreamingResponse:
        """One call answered 2xx, its body not yet read; an error answer is read and raised."""
        wire = await self.wire(route, request)
        opened = await self._http.open(wire, timeout_s=route.target.timeout_s)
        if opened.status >= 300:
            try:
                body = await opened.read()
            finally:
                await opened.aclose()
            response = WireResponse(status=opened.status, headers=opened.headers, body=body)
            raise read_answer(
                response,
                lambda: route.adapter.error_from_wire(response),
                route.adapter.provider_request_id(response.headers),
            )
        return opened

    def small(self, opened: StreamingResponse) -> bool:
        """Whether a 2xx body is declared small enough to read whole (and so to check before answering)."""
        length = opened.headers.get("content-length")
        return length is not None and length.isdigit() and int(length) <= self._passthrough_min_bytes

    async def read_whole(
        self, route: PlannedRoute, request: ImageRequest, opened: StreamingResponse
    ) -> tuple[WireResponse, ImageResult]:
        """A 2xx answer ``open`` returned, read whole and parsed like ``exchange`` (its raw body kept)."""
        try:
            body = await opened.read()
        except ProviderError as error:
            # It answered 2xx, then broke off: recorded with that status (possibly billed).
            if error.provider_status is None:
                error.provider_status = opened.status
            if error.provider_request_id is None:
                error.provider_request_id = route.adapter.provider_request_id(opened.headers)
            raise
        finally:
            await opened.aclose()
        response = WireResponse(status=opened.status, headers=opened.headers, body=body)
        result = read_answer(
            response,
            lambda: route.adapter.result_from_wire(response, request, route.target, keep_raw=True),
            route.adapter.provider_request_id(response.headers),
        )
        return response, result
