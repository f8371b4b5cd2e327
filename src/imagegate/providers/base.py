"""The adapter base class every provider folder implements, and the wire types it trades in."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from imagegate.domain.capabilities import Capabilities
from imagegate.domain.errors import InvalidRequest, ProviderError
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult, StreamEvent, Usage
from imagegate.providers.skeleton import SkeletonScanner

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
    # Set when ``url`` names an address the gateway resolved and checked itself (a URL from a
    # provider's answer, ``providers.polling``): the TLS certificate is matched against this name.
    server_hostname: str | None = None


@dataclass(frozen=True, slots=True)
class FetchedFile:
    """A result file a submit-and-poll host left at a URL, downloaded (its URL is not kept: signed)."""

    data: bytes
    content_type: str | None = None


@dataclass(slots=True)
class WireResponse:
    """A complete provider response: status, headers (lower-cased names) and the raw body.

    For a submit-and-poll host (``providers.polling``), ``body`` is the final status document,
    ``submitted`` the answer to the submit (the task id, and the cost some hosts quote there) and
    ``files`` the result files downloaded from the URLs the final status named.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    submitted: WireResponse | None = None
    files: tuple[FetchedFile, ...] = ()


PollStatus = Literal["pending", "follow", "ready", "failed"]


@dataclass(frozen=True, slots=True)
class PollState:
    """What one status answer of a submit-and-poll host says.

    - ``pending``: not finished; poll ``PollTask.poll_url`` again after the interval;
    - ``follow``: read ``follow_url`` next, at once (fal: the result document once the status is done);
    - ``ready``: finished; download ``files`` (in order) and hand everything to ``from_wire``;
    - ``failed``: finished without an image; ``error`` says why (moderation, the host's error).
    """

    status: PollStatus
    files: tuple[str, ...] = ()
    follow_url: str | None = None
    error: ProviderError | None = None

    @classmethod
    def pending(cls) -> PollState:
        """Not finished yet."""
        return cls("pending")

    @classmethod
    def ready(cls, files: tuple[str, ...]) -> PollState:
        """Finished: the result files to download."""
        return cls("ready", files=files)

    @classmethod
    def failed(cls, error: ProviderError) -> PollState:
        """Finished without an image."""
        return cls("failed", error=error)

    @classmethod
    def follow(cls, url: str) -> PollState:
        """Read ``url`` next (with the provider's credentials), without waiting."""
        return cls("follow", follow_url=url)


@dataclass(frozen=True, slots=True)
class PollTask:
    """A task a submit-and-poll host accepted: where to ask about it and how to call it off."""

    id: str
    poll_url: str
    cancel_url: str | None = None
    cancel_method: str = "POST"
    # Where the finished result is read, when that is not the status itself (fal's ``response_url``).
    result_url: str | None = None
    # What the submit answer already says (Replicate's ``Prefer: wait`` may return it finished).
    state: PollState = field(default_factory=PollState.pending)


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
    # Whether ``respond`` requests (a mainline model with the image tool, the Responses API) can be
    # sent natively; such adapters override the ``responses_*`` hooks below.
    speaks_responses: ClassVar[bool] = False

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

    def batch_wire(self, request: ImageRequest, route: RouteTarget) -> WireRequest:
        """``request`` as one line of the provider's batch. The default: the ordinary ``to_wire``
        (a provider whose batch lines must be JSON where a single call is multipart overrides it)."""
        return self.to_wire(request, route)

    def usage_from_ledger(self, raw: Mapping[str, Any]) -> Usage:
        """The domain counters of a usage object as the ledger keeps it (the provider's own, as sent);
        traces read token counts through this. The default knows no counters."""
        return Usage(raw=dict(raw))

    # -- a 2xx body forwarded as it arrives (the client speaks this provider's dialect) -------------

    def body_scanner(self, request: ImageRequest) -> SkeletonScanner | None:
        """A scanner for ``request``'s 2xx body when it may pass through to the client as it arrives
        (``result_from_skeleton`` then reads the scanned structure); None, the default: read it whole."""
        return None

    def result_from_skeleton(self, parsed: Any, status: int, headers: Mapping[str, str]) -> ImageResult:
        """The result (image count, usage) a passed-through 2xx body described, from its parsed skeleton."""
        raise NotImplementedError(f"{self.name} does not scan bodies")

    # -- submit-and-poll: a host whose 2xx answer is a task, not the image -------------------------
    # Hosts the provider documents for its API (polling and cancel URLs; the key is sent there) and
    # for its result files (signed or public URLs; the key is never sent there unless the host is also
    # an API host). ``*.example.com`` matches a domain and its subdomains. The route's own base URL
    # host counts as an API host, and ``options.result_hosts`` adds result hosts (providers.polling).
    api_hosts: ClassVar[tuple[str, ...]] = ()
    result_hosts: ClassVar[tuple[str, ...]] = ()

    def accepted_task(self, response: WireResponse, route: RouteTarget) -> PollTask | None:
        """The task a 2xx answer started, or None when the answer is already the result (the default)."""
        return None

    def poll_state(self, response: WireResponse, task: PollTask) -> PollState:
        """Read one 2xx status answer about ``task`` (only called when ``accepted_task`` gave one)."""
        raise NotImplementedError(f"{self.name} does not poll")

    def auth_headers(self, route: RouteTarget) -> dict[str, str]:
        """The credential headers for calls after the submit (polls, cancel, keyed downloads)."""
        return {}

    def cancel_wire(self, task: PollTask, route: RouteTarget) -> WireRequest | None:
        """The call that stops ``task`` at the host, or None when the host has no cancel call."""
        if task.cancel_url is None:
            return None
        return WireRequest(task.cancel_method, task.cancel_url, self.auth_headers(route))

    def provider_request_id(self, headers: Mapping[str, str], body: Mapping[str, Any] | None = None) -> str | None:
        """The provider's id for one response, from its headers or its parsed JSON ``body``.

        Used for plain responses (``from_wire``) and streams (from the headers when the stream
        opens), so both paths record the same id. The default reads ``x-request-id``.
        """
        return headers.get("x-request-id")

    # -- the Responses API (operation ``respond``): native only where ``speaks_responses`` -------

    def responses_to_wire(self, request: ImageRequest, route: RouteTarget) -> WireRequest:
        """Build the provider's Responses call (the client's body, forwarded faithfully)."""
        raise InvalidRequest(f"Model '{request.model}' cannot serve the Responses API.", param="model")

    def responses_from_wire(self, response: WireResponse, request: ImageRequest, route: RouteTarget) -> ImageResult:
        """Parse a 2xx Responses body: count the image tool's images and read both usages."""
        raise InvalidRequest(f"Model '{request.model}' cannot serve the Responses API.", param="model")

    def responses_stream_events(self, frames: AsyncIterator[bytes]) -> AsyncIterator[StreamEvent]:
        """Classify a Responses stream's frames (raw frames kept for pass-through)."""
        raise InvalidRequest("This route cannot stream the Responses API.", param="model")

    # -- dispatch by operation (the pipeline calls these) -----------------------------------------

    def request_to_wire(self, request: ImageRequest, route: RouteTarget) -> WireRequest:
        """``to_wire``, or ``responses_to_wire`` for a ``respond`` request."""
        if request.operation == "respond":
            return self.responses_to_wire(request, route)
        return self.to_wire(request, route)

    def result_from_wire(
        self, response: WireResponse, request: ImageRequest, route: RouteTarget, *, keep_raw: bool
    ) -> ImageResult:
        """``from_wire``, or ``responses_from_wire`` for a ``respond`` request (always kept raw)."""
        if request.operation == "respond":
            return self.responses_from_wire(response, request, route)
        return self.from_wire(response, request, route, keep_raw=keep_raw)

    def events_from_wire(self, request: ImageRequest, frames: AsyncIterator[bytes]) -> AsyncIterator[StreamEvent]:
        """``stream_events``, or ``responses_stream_events`` for a ``respond`` request."""
        if request.operation == "respond":
            return self.responses_stream_events(frames)
        return self.stream_events(frames)
