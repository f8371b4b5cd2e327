"""Sending one webhook request under the outbound policy (docs/jobs.md, "Webhooks").

The URL's host is resolved and every address checked (``providers.outbound``) before anything is
sent, and the request goes to the checked address itself (the Host header and TLS name stay the
URL's host), so a DNS answer cannot change between the check and the call. Redirects are
followed by hand, at most ``MAX_REDIRECTS``, each target checked the same way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from imagegate.providers.outbound import IPNetwork, OutboundBlocked, check_addresses

MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class SendResult:
    """What came of one attempt: the receiver's status, or why there was none."""

    http_status: int | None
    error: str | None
    latency_ms: int

    @property
    def delivered(self) -> bool:
        """A 2xx answer."""
        return self.http_status is not None and 200 <= self.http_status < 300


def _pinned(url: str, address: str) -> tuple[str, str, dict[str, str]]:
    """The URL with its host replaced by ``address``, the Host header, and the TLS name to send."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc)), host_header, {"sni_hostname": host}


class WebhookSender:
    """POSTs signed bodies to receivers (one shared connection pool, no redirects followed blindly)."""

    def __init__(self, *, allow: Sequence[IPNetwork] = (), timeout_s: float = 15.0) -> None:
        self._allow = tuple(allow)
        self._client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, trust_env=False)

    async def send(self, url: str, body: bytes, headers: dict[str, str]) -> SendResult:
        """POST ``body`` to ``url`` (following checked redirects); never raises for network trouble."""
        started = time.monotonic()

        def done(status: int | None, error: str | None) -> SendResult:
            return SendResult(status, error, int((time.monotonic() - started) * 1000))

        target = url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                addresses = await check_addresses(target, self._allow)
            except OutboundBlocked as blocked:
                return done(None, f"blocked: {blocked}")
            pinned, host_header, extensions = _pinned(target, str(addresses[0]))
            try:
                response = await self._client.post(
                    pinned,
                    content=body,
                    headers={**headers, "host": host_header, "content-type": "application/json"},
                    extensions=extensions,
                )
                await response.aclose()
            except httpx.HTTPError as error:
                return done(None, f"{type(error).__name__}: {error}"[:300])
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or location is None:
                return done(response.status_code, None)
            target = urljoin(target, location)
        return done(None, f"more than {MAX_REDIRECTS} redirects")

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
