"""A provider's 2xx body passed through to the client as it arrives, and its one ledger row at the end.

Used when the client speaks the provider's own dialect and nothing needs translating: the gateway
never holds the whole body (megabytes of base64), only the chunk in hand and the body's structure,
which the adapter's scanner keeps (``providers.skeleton.SkeletonScanner``) so the usage at the
body's end prices the attempt exactly. The row follows the cost rule of ``service.attempts``:

- the body ended and reads as a result → settled from its usage (``charge`` is then set);
- the body broke off, stalled or does not read as a result → ``UpstreamBadResponse`` /
  ``UpstreamTimeout`` with the 2xx status: possibly billed, the quote, estimated;
- the client left mid-body (or the server is stopping) → the quote, estimated, flagged
  ``client_disconnected``: the provider finished its work before the first byte arrived, but the
  usage that would price it exactly comes last and is not read once the client is gone.

After the first byte there is no retry and no fallback: the client already has part of the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable

from imagegate.domain.errors import ImagegateError, ProviderError, UpstreamBadResponse
from imagegate.domain.result import ImageResult
from imagegate.pricing.engine import Charge
from imagegate.providers.http import StreamingResponse
from imagegate.providers.skeleton import MalformedBody, SkeletonScanner
from imagegate.service.attempts import AttemptRecorder
from imagegate.service.plan import Plan, PlannedRoute
from imagegate.service.wire_parse import bad_response


class BodyStream:
    """An open 2xx provider response whose body goes to the client unchanged. Iterate ``chunks()`` once."""

    def __init__(
        self,
        recorder: AttemptRecorder,
        plan: Plan,
        route: PlannedRoute,
        attempt: int,
        started: float,
        opened: StreamingResponse,
        scanner: SkeletonScanner,
        *,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.recorder = recorder
        self.plan = plan
        self.route = route
        self.attempt = attempt
        self.status = opened.status
        self.content_type = opened.headers.get("content-type", "application/json")
        length = opened.headers.get("content-length")
        # What the provider declared it will send (None: chunked); aiohttp checks it is kept.
        self.declared_length = int(length) if length is not None and length.isdigit() else None
        self._started = started
        self._opened = opened
        self._scanner = scanner
        self._on_close = on_close
        self.provider_request_id = route.adapter.provider_request_id(opened.headers)
        # Set once the body ended and was priced from its usage (what the client is told it cost).
        self.charge: Charge | None = None
        # Whether the provider's body arrived whole (it may still fail to read as a result).
        self.complete = False
        self._iterated = False  # ``chunks()`` started (it then records); else ``abandon()`` does

    def _result(self) -> ImageResult:
        try:
            parsed = self._scanner.parse()
        except MalformedBody as exc:
            raise UpstreamBadResponse(f"the provider's response is not valid JSON: {exc}") from exc
        return self.route.adapter.result_from_skeleton(parsed, self.status, self._opened.headers)

    async def abandon(self) -> None:
        """End a stream whose ``chunks()`` never started (the client left before the body began):
        recorded as a disconnect, the provider's connection released. Does nothing otherwise."""
        if self._iterated:
            return
        self._iterated = True
        self._record(None, None, disconnected=True)
        try:
            await self._opened.aclose()
        finally:
            if self._on_close is not None:
                await self._on_close()

    async def chunks(self) -> AsyncGenerator[bytes]:
        """The body as it arrives; the attempt's ledger row is written when this ends, however it ends."""
        self._iterated = True
        result: ImageResult | None = None
        error: ImagegateError | None = None
        disconnected = False
        try:
            async for chunk in self._opened.aiter_received():
                self._scanner.feed(chunk)
                yield chunk
            self.complete = True
            result = self._result()
        except ProviderError as exc:
            error = exc
            raise
        except (asyncio.CancelledError, GeneratorExit):
            # The response stopped iterating: the client left (the transport cancels the response
            # when it sees the disconnect, like a passed-through SSE stream) or the server is stopping.
            disconnected = True
            raise
        except Exception as exc:
            error = bad_response(exc, self.status, self.provider_request_id)
            raise error from exc
        finally:
            # Record first: during cancellation any await below may be interrupted.
            self._record(result, error, disconnected=disconnected)
            try:
                await self._opened.aclose()
            finally:
                if self._on_close is not None:
                    await self._on_close()

    def _record(self, result: ImageResult | None, error: ImagegateError | None, *, disconnected: bool) -> None:
        recorder, plan, route = self.recorder, self.plan, self.route
        if result is not None:
            self.charge = recorder.settle(plan, route, result)
            recorder.record(
                plan, route, self.attempt, self._started, result=result, charge=self.charge, http_status=self.status
            )
            return
        if isinstance(error, ProviderError):
            if error.provider_status is None:
                error.provider_status = self.status
            if error.provider_request_id is None:
                error.provider_request_id = self.provider_request_id
            charge = recorder.for_error(plan, route, error)
        else:
            charge = recorder.quote(plan, route)
        recorder.record(
            plan,
            route,
            self.attempt,
            self._started,
            error=error,
            charge=charge,
            http_status=self.status,
            provider_request_id=self.provider_request_id,
            client_disconnected=disconnected,
            error_code="client_disconnected" if disconnected else None,
        )
