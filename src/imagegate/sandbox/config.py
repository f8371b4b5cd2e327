"""Sandbox settings (:class:`SandboxConfig`) and the per-app runtime state (:class:`SandboxState`).

Kept apart from ``app.py`` so the provider modules can depend on them without importing the app
that imports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from imagegate.sandbox.batches import BatchBook
from imagegate.sandbox.faults import FaultStore, RequestLog, TransportLookup
from imagegate.sandbox.render import Renderer
from imagegate.sandbox.task_store import TaskStore

__all__ = ["SandboxConfig", "SandboxState", "TransportLookup"]


@dataclass(frozen=True)
class SandboxConfig:
    """How a sandbox instance behaves. Every field has a default that suits tests and the demo.

    - ``api_keys``: None accepts any non-empty bearer key; otherwise only these keys pass.
    - ``legacy_models``: also emulate the retired gpt-image-1, dall-e-2 and dall-e-3 (otherwise 404).
    - ``fixed_delay_ms``: benchmark mode; every image request answers after this delay.
    - ``fixed_image_bytes``: benchmark mode; every non-streaming image request answers with one
      response pre-encoded at startup whose whole JSON body is about this many bytes (a real PNG
      padded with a private chunk), so image encoding is not what a benchmark measures; a
      non-streaming ``generateContent`` answers with one JPEG (padded with comment segments) of
      that size, whatever the requested size.
    - ``max_request_bytes``: requests declaring a larger Content-Length get 413.
    - ``hang_max_s``: a ``hang`` fault closes the connection after this long if the client is
      still waiting (so a client without a timeout cannot pin a task forever).
    - ``request_log_size``: how many request records ``GET /_sandbox/requests`` keeps (the count
      is exact regardless).
    - ``render_cache_entries``: encoded images kept by (size, format, background, seed).
    - ``imagen_shut_down``: answer every Imagen ``:predict`` with 404 ``NOT_FOUND``, as Google has
      since 2026-08-17 (off by default so Imagen can be exercised).
    - ``batch_polls``: a batch (OpenAI or Gemini) completes on this read of its status (sandbox.batches).
    - ``google_service_accounts``: client email -> PEM public key; when set, ``POST /token``
      verifies JWT signatures against these keys (otherwise any well-formed assertion passes).
    - ``result_base_url``: where the submit-and-poll hosts' result files are served (BFL's delivery
      host, fal's media host); None: this server under its other loopback name (``localhost`` for
      ``127.0.0.1`` and back), so the result host is never the API host.
    - ``result_ttl_s``: how long a signed result URL stays valid (BFL documents 10 minutes).
    - ``bfl_max_active_tasks``: BFL answers 429 to a submit while this many of its tasks are still
      running (BFL documents 24); a task stops counting once finished, cancelled or ``hang_max_s`` old.
    """

    api_keys: frozenset[str] | None = None
    legacy_models: bool = False
    fixed_delay_ms: int | None = None
    fixed_image_bytes: int | None = None
    max_request_bytes: int = 128 * 1024 * 1024
    hang_max_s: float = 600.0
    request_log_size: int = 10_000
    render_cache_entries: int = 64
    imagen_shut_down: bool = False
    google_service_accounts: Mapping[str, str] | tuple[tuple[str, str], ...] = ()
    result_base_url: str | None = None
    result_ttl_s: float = 600.0
    bfl_max_active_tasks: int = 24
    batch_polls: int = 2

    def __post_init__(self) -> None:
        if self.fixed_delay_ms is not None and self.fixed_delay_ms < 0:
            raise ValueError("fixed_delay_ms must be >= 0")
        if self.fixed_image_bytes is not None and self.fixed_image_bytes < 1024:
            raise ValueError("fixed_image_bytes must be at least 1024")
        if self.api_keys is not None and not isinstance(self.api_keys, frozenset):
            # Accept any iterable of keys but store an immutable set, keeping the dataclass hashable.
            object.__setattr__(self, "api_keys", frozenset(self.api_keys))
        if isinstance(self.google_service_accounts, Mapping):
            object.__setattr__(self, "google_service_accounts", tuple(sorted(self.google_service_accounts.items())))


@dataclass
class SandboxState:
    """Everything one sandbox app owns at runtime; lives on ``app.state.sandbox`` (no globals)."""

    config: SandboxConfig
    faults: FaultStore = field(default_factory=FaultStore)
    requests: RequestLog = field(default_factory=RequestLog)
    renderer: Renderer = field(default_factory=Renderer)
    # Given the ASGI scope's ``client``, the server's transport for that connection, so the reset and
    # truncation faults can close it. Set by the server helpers; None when the host server is unknown.
    transport_lookup: TransportLookup | None = None
    # Images served at /_sandbox/images/{id} for legacy DALL·E ``response_format=url`` answers.
    hosted_images: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    # Benchmark mode: (body prefix, one data item), built once at startup; None otherwise.
    benchmark: tuple[bytes, bytes] | None = None
    # Benchmark mode for generateContent: the one image every answer carries, padded so that its
    # body is about ``fixed_image_bytes``; None otherwise.
    gemini_benchmark: bytes | None = None
    # OAuth access tokens issued by ``POST /token`` -> expiry (unix seconds), for Vertex paths.
    google_tokens: dict[str, float] = field(default_factory=dict)
    # Tasks of the submit-and-poll hosts (BFL, fal, Replicate), by id.
    tasks: TaskStore = field(default_factory=TaskStore)
    # Responses API turns by id -> whether the turn made an image (for previous_response_id).
    responses: dict[str, bool] = field(default_factory=dict)
    # OpenAI and Gemini batches and uploaded batch files (sandbox.batches).
    batches: BatchBook = field(default_factory=BatchBook)
