"""Server-sent events to the client: the headers every stream carries, and provider pass-through.

Pass-through forwards the provider's frames as they arrive. A failure after the headers went out
is reported in-band, in the dialect's own error frame; that frame is written under a shield so a
cancellation (client gone) cannot cut it in half. ``aclosing`` hands the rest of the provider
stream to a drain at once when the client leaves (``service.stream_session``), which writes its
ledger row.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable

import anyio
from starlette.responses import StreamingResponse

from imagegate.domain.errors import ImagegateError
from imagegate.service.images import StreamSession

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def sse_response(frames: AsyncIterable[bytes] | Iterable[bytes], headers: dict[str, str]) -> StreamingResponse:
    """A ``text/event-stream`` response with the stream headers added."""
    return StreamingResponse(frames, media_type="text/event-stream", headers={**headers, **SSE_HEADERS})


def passthrough_response(
    session: StreamSession, headers: dict[str, str], error_frame: Callable[[ImagegateError], bytes]
) -> StreamingResponse:
    """The provider's stream, frame for frame, ending with ``error_frame`` if it fails midway."""

    async def frames() -> AsyncIterator[bytes]:
        async with contextlib.aclosing(session.events()) as events:
            try:
                async for event in events:
                    yield event.raw
            except ImagegateError as error:
                with anyio.CancelScope(shield=True):
                    yield error_frame(error)

    return sse_response(frames(), headers)
