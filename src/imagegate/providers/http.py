"""The one HTTP executor every adapter's requests go through.

It owns the connection pool and turns transport failures into the domain error tree: nothing
answered -> ``UpstreamUnavailable``; too slow -> ``UpstreamTimeout``; the body broke off after the
headers, or a body to be read whole is larger than ``max_body_bytes`` -> ``UpstreamBadResponse``.

aiohttp rather than httpx here: its C response parser reads a 1.4 MB image body about 3 ms faster
than httpx's pure-Python one (bench/gateway_overhead.py), which is most of the gateway's own cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDictProxy

from imagegate.domain.errors import ProviderError, UpstreamBadResponse, UpstreamTimeout, UpstreamUnavailable
from imagegate.providers.base import WireRequest, WireResponse

CONNECT_TIMEOUT_S = 10.0
READ_CHUNK_BYTES = 256 * 1024
# The largest provider body read whole (IMAGEGATE_MAX_PROVIDER_BODY_BYTES): ten 3840x2160 PNGs of
# photo-like content in base64 (~16 MiB each) with room to spare; bodies streamed through are not held.
MAX_BODY_BYTES = 256 * 1024 * 1024


def _form(wire: WireRequest) -> aiohttp.FormData:
    form = aiohttp.FormData(quote_fields=False)
    for name, value in wire.form or []:
        form.add_field(name, value)
    for name, (filename, data, content_type) in wire.files or []:
        form.add_field(name, data, filename=filename, content_type=content_type)
    return form


def _answered(error: ProviderError, opened: StreamingResponse) -> None:
    """Keep the status and request id of an answer whose body then broke off or stalled (for its ledger row)."""
    error.provider_status = opened.status
    if error.provider_request_id is None:
        error.provider_request_id = opened.headers.get("x-request-id")


@dataclass(slots=True)
class StreamingResponse:
    """An open provider response whose body is read incrementally; always ``aclose()`` it."""

    status: int
    headers: CIMultiDictProxy[str]
    _response: aiohttp.ClientResponse
    # ``read()`` fails past this many bytes rather than hold an unbounded body.
    max_body_bytes: int = MAX_BODY_BYTES

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body as it arrives; a broken-off body raises ``UpstreamBadResponse``."""
        try:
            async for chunk in self._response.content.iter_chunked(READ_CHUNK_BYTES):
                yield chunk
        except TimeoutError as exc:
            raise UpstreamTimeout("the provider stopped sending within the deadline") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamBadResponse(f"the provider's response broke off: {type(exc).__name__}") from exc

    async def aiter_received(self) -> AsyncIterator[bytes]:
        """The body in the pieces the socket delivered, never joined or sliced (no copy); for
        forwarding a body unchanged. A broken-off body raises ``UpstreamBadResponse``."""
        try:
            async for piece, _end_of_http_chunk in self._response.content.iter_chunks():
                if len(piece) > 0:
                    yield piece
        except TimeoutError as exc:
            raise UpstreamTimeout("the provider stopped sending within the deadline") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamBadResponse(f"the provider's response broke off: {type(exc).__name__}") from exc

    def _too_large(self) -> UpstreamBadResponse:
        return UpstreamBadResponse(
            f"the provider's response is larger than {self.max_body_bytes} bytes (IMAGEGATE_MAX_PROVIDER_BODY_BYTES)"
        )

    async def read(self) -> bytes:
        """The whole remaining body; one over ``max_body_bytes`` raises ``UpstreamBadResponse``
        without being read past that limit."""
        limit = self.max_body_bytes
        length = self.headers.get("content-length")
        declared = int(length) if length is not None and length.isdigit() else None
        if declared is not None and declared > limit:
            raise self._too_large()
        try:
            if declared is not None and self.headers.get("content-encoding", "identity") == "identity":
                # aiohttp reads exactly the declared length: one buffer, no join.
                return await self._response.read()
            # Chunked or compressed (it may inflate past its declared length): counted as it comes.
            parts: list[bytes] = []
            size = 0
            async for chunk in self._response.content.iter_chunked(READ_CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise self._too_large()
                parts.append(chunk)
            return b"".join(parts)
        except TimeoutError as exc:
            raise UpstreamTimeout("the provider stopped sending within the deadline") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamBadResponse(f"the provider's response broke off: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        """Release the connection."""
        self._response.release()


class HttpExecutor:
    """Sends wire requests over a shared pool, with a total deadline per request."""

    def __init__(self, *, max_connections: int = 512, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self._max_connections = max_connections
        self._max_body_bytes = max_body_bytes
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use: an aiohttp session belongs to the event loop that runs the app.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300),
                auto_decompress=True,
                trust_env=False,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def send(self, wire: WireRequest, *, timeout_s: float) -> WireResponse:
        """Send and read the whole response within ``timeout_s`` seconds."""
        opened: StreamingResponse | None = None
        try:
            async with asyncio.timeout(timeout_s):
                opened = await self.open(wire, timeout_s=timeout_s)
                try:
                    body = await opened.read()
                except ProviderError as error:
                    _answered(error, opened)
                    raise
                finally:
                    await opened.aclose()
        except TimeoutError as exc:
            timed_out = UpstreamTimeout(f"no complete answer from the provider within {timeout_s:g} s")
            if opened is not None:
                _answered(timed_out, opened)
            raise timed_out from exc
        assert opened is not None
        return WireResponse(status=opened.status, headers=opened.headers, body=body)

    async def open(self, wire: WireRequest, *, timeout_s: float) -> StreamingResponse:
        """Send and return once the status and headers have arrived."""
        timeout = aiohttp.ClientTimeout(total=None, connect=min(CONNECT_TIMEOUT_S, timeout_s), sock_read=timeout_s)
        data: aiohttp.payload.Payload | aiohttp.FormData | None = None
        if wire.form is not None or wire.files is not None:
            data = _form(wire)
        elif wire.content is not None:
            # A payload already: aiohttp skips looking one up for the bytes (every request's path).
            data = aiohttp.payload.BytesPayload(wire.content)
        try:
            async with asyncio.timeout(timeout_s):
                response = await self._client().request(
                    wire.method,
                    wire.url,
                    headers=wire.headers,
                    data=data,
                    timeout=timeout,
                    allow_redirects=False,
                    server_hostname=wire.server_hostname,
                )
        except aiohttp.ConnectionTimeoutError as exc:
            # Nothing was sent: unreachable, not slow (and so not billed).
            raise UpstreamUnavailable(f"could not connect to the provider within {CONNECT_TIMEOUT_S:g} s") from exc
        except TimeoutError as exc:
            raise UpstreamTimeout(f"the provider did not answer within {timeout_s:g} s") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(f"could not reach the provider: {type(exc).__name__}") from exc
        return StreamingResponse(
            status=response.status, headers=response.headers, _response=response, max_body_bytes=self._max_body_bytes
        )

    async def aclose(self) -> None:
        """Close the pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None
