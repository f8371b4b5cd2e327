"""The one HTTP executor every adapter's requests go through.

It owns the connection pool and turns transport failures into the domain error tree: nothing
answered -> ``UpstreamUnavailable``; too slow -> ``UpstreamTimeout``; the body broke off after the
headers -> ``UpstreamBadResponse``. Tests replace the transport (``httpx`` transports) rather than
monkeypatching this module.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from imagegate.domain.errors import UpstreamBadResponse, UpstreamTimeout, UpstreamUnavailable
from imagegate.providers.base import WireRequest, WireResponse

CONNECT_TIMEOUT_S = 10.0


def _timeout(total_s: float) -> httpx.Timeout:
    return httpx.Timeout(total_s, connect=min(CONNECT_TIMEOUT_S, total_s))


def _build(client: httpx.AsyncClient, wire: WireRequest, timeout_s: float) -> httpx.Request:
    if wire.files is not None or wire.form is not None:
        return client.build_request(
            wire.method, wire.url, headers=wire.headers, data=dict(_group(wire.form or [])),
            files=wire.files or [], timeout=_timeout(timeout_s),
        )
    return client.build_request(
        wire.method, wire.url, headers=wire.headers, content=wire.content, timeout=_timeout(timeout_s)
    )


def _group(pairs: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    grouped: dict[str, str | list[str]] = {}
    for key, value in pairs:
        current = grouped.get(key)
        if current is None:
            grouped[key] = value
        elif isinstance(current, list):
            current.append(value)
        else:
            grouped[key] = [current, value]
    return grouped


@dataclass(slots=True)
class StreamingResponse:
    """An open provider response whose body is read incrementally; always ``aclose()`` it."""

    status: int
    headers: httpx.Headers
    _response: httpx.Response

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body as it arrives; a broken-off body raises ``UpstreamBadResponse``."""
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("the provider stopped sending within the deadline") from exc
        except httpx.TransportError as exc:
            raise UpstreamBadResponse(f"the provider's response broke off: {type(exc).__name__}") from exc

    async def read(self) -> bytes:
        """The whole remaining body."""
        chunks = [chunk async for chunk in self.aiter_bytes()]
        return b"".join(chunks)

    async def aclose(self) -> None:
        """Release the connection."""
        await self._response.aclose()


class HttpExecutor:
    """Sends wire requests over a shared pool, with a total deadline per request."""

    def __init__(self, client: httpx.AsyncClient | None = None, *, max_connections: int = 512) -> None:
        self._client = client or httpx.AsyncClient(
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=False,
            trust_env=False,
        )

    async def send(self, wire: WireRequest, *, timeout_s: float) -> WireResponse:
        """Send and read the whole response within ``timeout_s`` seconds."""
        try:
            async with asyncio.timeout(timeout_s):
                opened = await self.open(wire, timeout_s=timeout_s)
                try:
                    body = await opened.read()
                finally:
                    await opened.aclose()
        except TimeoutError as exc:
            raise UpstreamTimeout(f"no complete answer from the provider within {timeout_s:g} s") from exc
        return WireResponse(status=opened.status, headers=opened.headers, body=body)

    async def open(self, wire: WireRequest, *, timeout_s: float) -> StreamingResponse:
        """Send and return once the status and headers have arrived."""
        request = _build(self._client, wire, timeout_s)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"the provider did not answer within {timeout_s:g} s") from exc
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(f"could not reach the provider: {type(exc).__name__}") from exc
        return StreamingResponse(status=response.status_code, headers=response.headers, _response=response)

    async def aclose(self) -> None:
        """Close the pool."""
        await self._client.aclose()
