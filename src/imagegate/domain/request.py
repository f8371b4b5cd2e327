"""The canonical image request every dialect parses into and every adapter maps from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# ``respond``: a mainline model's turn with the image tool (the Responses API); the image work is
# the tool's, priced by ``tool_model``'s row.
Operation = Literal["generate", "edit", "respond"]


@dataclass(slots=True)
class InputImage:
    """An uploaded image (edit input, reference or mask), held as the bytes the client sent."""

    data: bytes
    filename: str | None = None
    content_type: str | None = None


@dataclass(slots=True)
class ImageRequest:
    """What the client asked for, in canonical terms.

    ``None`` means "not sent": adapters apply provider defaults only for absent fields, and
    pricing treats absent fields by the provider's documented default. ``extra`` keeps the
    fields a dialect does not model so a provider speaking the same dialect receives them as sent;
    a provider of another dialect must translate each of them or refuse the request (see
    ``service.conform``). Keys are the client's own names (``safetySettings``, ``parameters.language``).
    """

    operation: Operation
    model: str
    prompt: str
    dialect: str
    n: int | None = None
    size: str | None = None
    quality: str | None = None
    background: str | None = None
    output_format: str | None = None
    output_compression: int | None = None
    moderation: str | None = None
    input_fidelity: str | None = None
    partial_images: int | None = None
    stream: bool = False
    user: str | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    seed: int | None = None
    # DALL·E 3's ``vivid``/``natural``; a model takes it only if its capabilities list styles.
    style: str | None = None
    # How the client wants images delivered (OpenAI dialect): None or ``b64_json`` inline, ``url``
    # through the gateway's image storage. The gateway consumes it; no provider ever receives it.
    response_format: str | None = None
    images: list[InputImage] = field(default_factory=list)
    mask: InputImage | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    param_names: dict[str, str] = field(default_factory=dict)
    # The client's body as parsed, for a provider of the same dialect to forward faithfully
    # (Gemini ``contents`` with several turns, thought signatures ...). Other providers never read it.
    native: dict[str, Any] | None = None
    # ``respond`` only: the image tool's model (the client's ``tools[].model``, else the API's default).
    tool_model: str | None = None

    def param_name(self, canonical: str) -> str:
        """The client's own name for a canonical field, so errors name what the client sent."""
        return self.param_names.get(canonical, canonical)

    @property
    def image_count(self) -> int:
        """How many images the caller asked for (1 when ``n`` was not sent)."""
        return 1 if self.n is None else self.n
