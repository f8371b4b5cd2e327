"""Which fields the OpenAI Images dialect accepts, and how ``response_format`` is answered.

The accepted names are those the official ``openai`` SDK sends (``ImageGenerateParams`` and
``ImageEditParams`` of openai 3.63; tests/api/test_openai_fields.py compares them with the
installed SDK). Anything else is refused with OpenAI's own ``unknown_parameter`` before a provider
is paid to refuse it. A field the SDK sends but the gateway does not model (``safety_identifier``
...) reaches an OpenAI route as sent, or is refused by name on a route of another dialect.

``response_format`` is the gateway's business, never forwarded to a GPT Image model (which has no
such field): ``b64_json`` (or absent) returns images inline; ``url`` needs the gateway's image
storage. ``delivery`` below is the one place that rule lives.
"""

from __future__ import annotations

from collections.abc import Iterable

from imagegate.domain.errors import InvalidRequest, UnknownParameter

_COMMON = frozenset(
    {
        "prompt",
        "model",
        "n",
        "size",
        "quality",
        "background",
        "moderation",
        "output_compression",
        "output_format",
        "partial_images",
        "response_format",
        "safety_identifier",
        "stream",
        "user",
        "complexity",
        "frame_count",
        "frame_duration_ms",
        "svg",
    }
)
GENERATION_FIELDS = _COMMON | {"style"}
# ``moderation`` on edits: the SDK does not send it, but the gateway has always accepted it there.
EDIT_FIELDS = _COMMON | {"image", "mask", "input_fidelity", "markup"}

RESPONSE_FORMATS = ("b64_json", "url")


def check_known(names: Iterable[str], operation: str) -> None:
    """Refuse the first field name the dialect does not define (multipart ``svg[effort]`` is ``svg``)."""
    known = GENERATION_FIELDS if operation == "generate" else EDIT_FIELDS
    for name in names:
        if name.split("[", 1)[0] not in known:
            raise UnknownParameter(f"Unknown parameter: '{name}'.", param=name)


def delivery(response_format: str | None, *, storage_available: bool) -> str:
    """How images are returned for ``response_format``: ``b64_json`` or ``url``; 400 otherwise.

    ``url`` is served only when the gateway stores images (its image storage is configured).
    """
    if response_format is None or response_format == "b64_json":
        return "b64_json"
    if response_format not in RESPONSE_FORMATS:
        raise InvalidRequest(
            f"Invalid value for 'response_format': {response_format!r}. Supported values are: 'b64_json' and 'url'.",
            param="response_format",
        )
    if not storage_available:
        raise InvalidRequest(
            "'response_format' 'url' needs the gateway's image storage, which is not configured here; "
            "omit it (or send 'b64_json') to receive the images inline.",
            param="response_format",
        )
    return response_format
