"""A provider's 2xx body passed through to the client as it arrives, and its one ledger row at the end.

Used when the client speaks the provider's own dialect and nothing needs translating: the gateway
never holds the whole body (megabytes of base64), only the chunk in hand and the body's structure,
which the adapter's scanner keeps (``providers.skeleton.SkeletonScanner``) so the usage at the
body's end prices the attempt exactly. The row follows the cost rule of ``service.attempts``:

- the body ended and reads as a result → settled from its usage (``charge`` is then set);
- the body broke off, stalled or does not read as a result → ``UpstreamBadResponse`` /
  ``UpstreamTimeout`` with the 2xx status: possibly billed, the quote, estimated;
- the client left mid-body → flagged ``client_disconnected``; the provider finished (and bills)
  its work before the first byte arrived and its usage comes last, so the rest of the body is
  read in a drain (``service.drains``: discarded, only the scanner fed) within the route's
  remaining timeout and the provider body cap; the row is then settled from that usage (not
  estimated), or at the quote, estimated, when the drain breaks off, hits a bound, or the server
  stops first. Admission is settled (``on_close``) after the drain, with that cost.

After the first byte there is no retry and no fallback: the client already has part of the answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable

from imagegate.domain.errors import ImagegateError, ProviderError, UpstreamBadResponse
from imagegate.domain.result import ImageResult
from imagegate.pricing.engine import Charge
from imagegate.providers.http import StreamingResponse
from imagegate.providers.skeleton import MalformedBody, SkeletonScanner
from imagegate.service.attempts import AttemptRecorder
from imagegate.service.drains import DrainBound, Drains
from imagegate.service.plan import Plan, PlannedRoute
from imagegate.service.wire_parse import bad_response

log = logging.getLogger("imagegate.service")


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
        drains: Drains | None = None,
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
        self._drains = drains
        self._received = 0  # body bytes read so far (forwarded or drained)
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
        drained and recorded as a disconnect, the provider's connection released. Does nothing
        otherwise."""
        if self._iterated:
            return
        self._iterated = True
        if self._drains is not None and self._drains.start(lambda: self._drain(None)):
            return
        self._record(None, None, disconnected=True)
        await self._release()

    async def chunks(self) -> AsyncGenerator[bytes]:
        """The body as it arrives; the attempt's ledger row is written when this ends, however it ends."""
        self._iterated = True
        result: ImageResult | None = None
        error: ImagegateError | None = None
        disconnected = False
        drained_later = False
        body = self._opened.aiter_received()
        try:
            async for chunk in body:
                self._received += len(chunk)
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
            drained_later = self._drains is not None and self._drains.start(lambda: self._drain(body))
            raise
        except Exception as exc:
            error = bad_response(exc, self.status, self.provider_request_id)
            raise error from exc
        finally:
            if not drained_later:
                # Record first: during cancellation any await below may be interrupted.
                self._record(result, error, disconnected=disconnected)
                await self._release()

    async def _release(self) -> None:
        try:
            await self._opened.aclose()
        finally:
            if self._on_close is not None:
                await self._on_close()

    def _bound(self) -> DrainBound:
        return DrainBound(self._started + self.route.target.timeout_s, self._opened.max_body_bytes)

    async def _drain(self, body: AsyncIterator[bytes] | None) -> None:
        """The rest of a body whose client left, read (discarded) to price it from its usage; then
        the row, the connection released and admission settled. Cancelled: the server is stopping."""
        result: ImageResult | None = None
        error: ProviderError | None = None
        try:
            # The forwarding read may have been cancelled mid-await (its generator is then over);
            # a fresh one goes on where aiohttp's buffer is.
            if isinstance(body, AsyncGenerator):
                await body.aclose()
            result = await self._read_rest(self._bound())
        except ProviderError as exc:
            # A complete body that reads as a billed failure (a Gemini block with its usage).
            error = exc if self.complete else None
        except Exception as exc:
            # Broke off, stalled, past a bound or unreadable: the quote, as without a drain.
            log.info("drain of %s ended without its usage: %s", self.plan.request_id, type(exc).__name__)
        finally:
            self._record(result, error, disconnected=True)
            await self._release()

    async def _read_rest(self, bound: DrainBound) -> ImageResult | None:
        if self.declared_length is not None and self.declared_length > bound.max_bytes:
            return None
        remaining_s = bound.remaining_s(self.recorder.clock())
        if remaining_s <= 0:
            return None
        async with asyncio.timeout(remaining_s):
            async for chunk in self._opened.aiter_received():
                self._received += len(chunk)
                if self._received > bound.max_bytes:
                    return None
                self._scanner.feed(chunk)
        self.complete = True
        return self._result()

    def _record(self, result: ImageResult | None, error: ImagegateError | None, *, disconnected: bool) -> None:
        recorder, plan, route = self.recorder, self.plan, self.route
        if result is not None:
            self.charge = recorder.settle(plan, route, result)
            recorder.record(
                plan,
                route,
                self.attempt,
                self._started,
                result=result,
                charge=self.charge,
                http_status=self.status,
                client_disconnected=disconnected,
                error_code="client_disconnected" if disconnected else None,
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
