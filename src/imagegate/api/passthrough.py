"""A provider's 2xx body forwarded to the client as it arrives (``service.body_stream``).

The body's last bytes get the gateway's ``imagegate`` cost object before the closing ``}`` once
the body has ended and the attempt is priced (``with_cost``; the OpenAI and Gemini dialects
alike). The last chunk is the one that reaches the declared ``content-length``, so nothing else is
held; without a declared length each chunk is held until the next arrives. A body that breaks off
mid-way is not completed: ``BodyBrokeOff`` reaches the server, which aborts the connection (ASGI's
only way to say a body is incomplete), so the client's HTTP library reports a transport error
instead of parsing a cut body; ``BrokenBodyLogFilter`` makes the server's log of it one warning
line rather than an error with a traceback. ``aclosing`` hands the rest of the provider's body to a
drain at once when the client leaves (``service.body_stream``), which writes its ledger row.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import orjson
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from imagegate.domain.errors import ProviderError
from imagegate.domain.money import usd_string
from imagegate.pricing.engine import Charge
from imagegate.service.images import BodyStream

# A last chunk this short that is only whitespace is merged into the chunk before it, so the
# dialect always finds the body's closing bytes in the final chunk it is handed.
_SHORT = 64


class BodyBrokeOff(Exception):
    """A provider's body broke off (or stalled) after part of it went to the client."""


def _broke_off(error: BaseException | None) -> bool:
    if isinstance(error, BaseExceptionGroup):
        return all(_broke_off(inner) for inner in error.exceptions)
    return isinstance(error, BodyBrokeOff)


class BrokenBodyLogFilter(logging.Filter):
    """For the server's logger: its "Exception in ASGI application" record for a ``BodyBrokeOff``
    becomes one warning line without a traceback (the break-off is the provider's, expected, and
    recorded in the ledger); every other record passes unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record of a broken-off body; keep every record."""
        error = record.exc_info[1] if record.exc_info is not None else None
        if _broke_off(error):
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
            record.msg, record.args = "%s", (_leaf_message(error),)
            record.exc_info, record.exc_text = None, None
        return True


def _leaf_message(error: BaseException | None) -> str:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return str(error)


def with_cost(last_chunk: bytes, charge: Charge) -> bytes:
    """A passed-through body's last chunk with the gateway's ``imagegate`` object added before its
    closing ``}``: ``{"cost_usd": "0.052980", "cost_estimated": false}``, what the
    ``x-imagegate-cost-usd``/``-estimated`` headers say on a buffered answer (the ``openai`` SDK keeps
    unknown fields: ``response.model_extra["imagegate"]``). A body not ending in ``}`` goes as it came."""
    end = len(last_chunk.rstrip())
    if end == 0 or last_chunk[end - 1] != 0x7D:
        return last_chunk
    field = orjson.dumps({"cost_usd": usd_string(charge.micros), "cost_estimated": charge.estimated})
    return last_chunk[: end - 1] + b',"imagegate":' + field + last_chunk[end - 1 :]


def body_response(
    stream: BodyStream, headers: dict[str, str], finish: Callable[[bytes, Charge], bytes] = with_cost
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
            except ProviderError as error:
                if not stream.complete:
                    # Cut mid-body: abort the connection rather than end a broken body cleanly.
                    raise BodyBrokeOff(
                        f"request {headers.get('x-request-id')}: the provider's body broke off after part of it "
                        f"was sent; the client's connection was aborted ({type(error).__name__}: {error})"
                    ) from error
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
