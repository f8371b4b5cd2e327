"""The adapter base class every provider folder implements, and the wire types it trades in."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from imagegate.domain.capabilities import Capabilities
from imagegate.domain.errors import ProviderError
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult, StreamEvent, Usage

if TYPE_CHECKING:  # providers.http and providers.batch import this module's wire types
    from imagegate.providers.batch import BatchApi
    from imagegate.providers.http import HttpExecutor


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


class ProviderAdapter(ABC):
    """What the pipeline needs from a provider: every adapter inherits this class.

    The abstract methods are the mapping every provider has; the hooks below them have defaults
    that suit a plain API-key provider, and an adapter overrides only what it needs. Every method
    but ``stream_events`` and ``authorize`` is pure.
    """

    name: ClassVar[str]
    dialect: ClassVar[str]
    # What the planner assumes for a route whose model the catalog does not describe.
    default_capabilities: ClassVar[Capabilities] = Capabilities()
    # ``ImageRequest.extra`` keys of *other* dialects this adapter translates; service.conform
    # refuses every other foreign field with a 400 naming it.
    foreign_extras: ClassVar[frozenset[str]] = frozenset()
    # ``gen_ai.provider.name`` in OpenTelemetry's GenAI conventions (traces); None: the adapter's ``name``.
    telemetry_name: ClassVar[str | None] = None

    @abstractmethod
    def validate(self, request: ImageRequest, capabilities: Capabilities) -> None:
        """Raise ``InvalidRequest`` naming the parameter if this provider model can't honour it."""

    @abstractmethod
    def to_wire(self, request: ImageRequest, route: RouteTarget) -> WireRequest:
        """Build the provider's HTTP request (credentials go in headers, never in the body)."""

    @abstractmethod
    def from_wire(
        self, response: WireResponse, request: ImageRequest, route: RouteTarget, *, keep_raw: bool
    ) -> ImageResult:
        """Parse a 2xx response; with ``keep_raw`` only count images and read usage."""

    @abstractmethod
    def error_from_wire(self, response: WireResponse) -> ProviderError:
        """Map a non-2xx response to the domain error tree from status and structured body."""

    @abstractmethod
    def stream_events(self, frames: AsyncIterator[bytes]) -> AsyncIterator[StreamEvent]:
        """Turn the provider's SSE frames into stream events (raw frames kept for pass-through)."""

    # -- hooks with defaults -------------------------------------------------------------------

    def validate_route(self, route: RouteTarget) -> None:
        """Raise ``InvalidRequest`` naming the route when its options are unusable (checked at startup)."""
        return None

    async def authorize(self, wire: WireRequest, route: RouteTarget, http: HttpExecutor) -> None:
        """Complete ``wire``'s credentials after ``to_wire``, the one step allowed I/O (OAuth tokens
        fetched through the gateway's executor). The default: ``to_wire`` already put the key in."""
        return None

    def batch_api(self, route: RouteTarget) -> BatchApi | None:
        """The provider's Batch API on ``route`` (providers.batch); None: batch mode is refused there."""
        return None

    def usage_from_ledger(self, raw: Mapping[str, Any]) -> Usage:
        """The domain counters of a usage object as the ledger keeps it (the provider's own, as sent);
        traces read token counts through this. The default knows no counters."""
        return Usage(raw=dict(raw))

    def provider_request_id(self, headers: Mapping[str, str], body: Mapping[str, Any] | None = None) -> str | None:
        """The provider's id for one response, from its headers or its parsed JSON ``body``.

        Used for plain responses (``from_wire``) and streams (from the headers when the stream
        opens), so both paths record the same id. The default reads ``x-request-id``.
        """
        return headers.get("x-request-id")
