"""A provider's 2xx body forwarded to the client as it arrives (``service.body_stream``).

The dialect may add to the body's last bytes once the body has ended and the attempt is priced
(OpenAI: the ``imagegate`` cost object before the closing ``}``). The last chunk is the one that
reaches the declared ``content-length``, so nothing else is held; without a declared length each
chunk is held until the next arrives. A body that breaks off mid-way is not completed: the connection is aborted,
so the client's HTTP library reports a transport error instead of parsing a cut body. ``aclosing``
ends the provider call, and so writes its ledger row, at once when the client leaves.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from imagegate.domain.errors import ProviderError
from imagegate.pricing.engine import Charge
from imagegate.service.images import BodyStream

# A last chunk this short that is only whitespace is merged into the chunk before it, so the
# dialect always finds the body's closing bytes in the final chunk it is handed.
_SHORT = 64


def body_response(
    stream: BodyStream, headers: dict[str, str], finish: Callable[[bytes, Charge], bytes]
) -> StreamingResponse:
    """The provider's body as it arrives; ``finish(last_chunk, charge)`` renders the last chunk
    once the attempt was priced from a complete, readable body (otherwise it goes as it came)."""

    async def chunks() -> AsyncIterator[bytes]:
        held: bytes | None = None
        remaining = stream.declared_length
        async with contextlib.aclosing(stream.chunks()) as body:
            try:
                async for chunk in body:
                    if remaining is not None:
                        remaining -= len(chunk)
                    if held is not None:
                        if len(chunk) <= _SHORT and chunk.strip() == b"":
                            held += chunk
                            continue
                        yield held
                        held = None
                    if remaining is not None and remaining > _SHORT:
                        yield chunk  # not the end: nothing held
                    else:
                        held = chunk
            except ProviderError:
                if not stream.complete:
                    raise  # cut mid-body: abort the connection rather than end a broken body cleanly
        if held is not None:
            yield held if stream.charge is None else finish(held, stream.charge)

    return _BodyResponse(stream, chunks(), status_code=stream.status, headers=headers, media_type=stream.content_type)


class _BodyResponse(StreamingResponse):
    """A ``StreamingResponse`` that still records its attempt when cancelled before the body began
    (the client gone between the provider's headers and the first chunk)."""

    def __init__(self, stream: BodyStream, content: AsyncIterator[bytes], **options: Any) -> None:
        super().__init__(content, **options)
        self._stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._stream.abandon()
