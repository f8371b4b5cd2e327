"""The adapter protocol every provider folder implements, and the wire types it trades in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from imagegate.domain.capabilities import Capabilities
from imagegate.domain.errors import ProviderError
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult, StreamEvent


@dataclass(frozen=True, slots=True)
class RouteTarget:
    """One provider deployment that can serve a model alias (built from the operator's config)."""

    name: str
    alias: str
    provider: str
    model: str
    base_url: str
    api_key: str = field(repr=False)
    timeout_s: float = 300.0
    options: Mapping[str, Any] = field(default_factory=dict)
    weight: float = 1.0
    enabled: bool = True


@dataclass(slots=True)
class WireRequest:
    """An HTTP request ready to send: JSON ``content`` or a multipart ``form`` + ``files``."""

    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None = None
    form: list[tuple[str, str]] | None = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None
    stream: bool = False


@dataclass(slots=True)
class WireResponse:
    """A complete provider response: status, headers (lower-cased names) and the raw body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class ProviderAdapter(Protocol):
    """What the pipeline needs from a provider. Every method but ``stream_events`` is pure."""

    name: ClassVar[str]
    dialect: ClassVar[str]

    def validate(self, request: ImageRequest, capabilities: Capabilities) -> None:
        """Raise ``InvalidRequest`` naming the parameter if this provider model can't honour it."""
        ...

    def to_wire(self, request: ImageRequest, route: RouteTarget) -> WireRequest:
        """Build the provider's HTTP request (credentials go in headers, never in the body)."""
        ...

    def from_wire(
        self, response: WireResponse, request: ImageRequest, route: RouteTarget, *, keep_raw: bool
    ) -> ImageResult:
        """Parse a 2xx response; with ``keep_raw`` only count images and read usage."""
        ...

    def error_from_wire(self, response: WireResponse) -> ProviderError:
        """Map a non-2xx response to the domain error tree from status and structured body."""
        ...

    def stream_events(self, frames: AsyncIterator[bytes]) -> AsyncIterator[StreamEvent]:
        """Turn the provider's SSE frames into stream events (raw frames kept for pass-through)."""
        ...


class OptionalAdapterHooks(Protocol):
    """Hooks an adapter may also define; the core looks them up with ``getattr`` and skips absent ones.

    - ``foreign_extras``: ``ImageRequest.extra`` keys of *other* dialects this adapter translates
      (service.conform refuses every other foreign field with a 400 naming it);
    - ``validate_route``: check a route's ``options`` at startup (raise ``InvalidRequest``);
    - ``authorize``: the one step allowed I/O, after ``to_wire``: add credentials that must be
      fetched (OAuth tokens) through the gateway's executor.
    """

    foreign_extras: ClassVar[frozenset[str]]

    def validate_route(self, route: RouteTarget) -> None:
        """Raise ``InvalidRequest`` naming the route when its options are unusable."""
        ...

    async def authorize(self, wire: WireRequest, route: RouteTarget, http: Any) -> None:
        """Complete ``wire``'s credentials (``http`` is the ``HttpExecutor``)."""
        ...
