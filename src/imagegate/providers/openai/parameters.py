"""The OpenAI Images parameter table and the defaults for models the catalog does not list.

The client dialect and this provider share field names, so the table is the identity for every
field OpenAI models; the Gemini-style fields it cannot express are rejected, never dropped.
Facts: ../shared/reference/providers.md §1 and the ``openai`` SDK's ``image_*_params``.
"""

from __future__ import annotations

from imagegate.domain.capabilities import Capabilities
from imagegate.providers.mapping import Param, ParameterTable

PARAMETERS = ParameterTable(
    [
        Param("n", "n"),
        Param("size", "size"),
        Param("quality", "quality"),
        Param("background", "background"),
        Param("output_format", "output_format"),
        Param("output_compression", "output_compression"),
        Param("moderation", "moderation"),
        Param("input_fidelity", "input_fidelity"),
        Param("partial_images", "partial_images"),
        Param("stream", "stream"),
        Param("user", "user"),
        Param("style", "style"),
        Param("aspect_ratio", None, reason="send 'size' as WIDTHxHEIGHT instead"),
        Param("resolution", None, reason="send 'size' as WIDTHxHEIGHT instead"),
        Param("seed", None, reason="the OpenAI Images API has no seed"),
    ]
)

# Used only for a model id the catalog does not know (a new snapshot): permissive enough to pass
# the request through, strict where the API is strict for every GPT Image model.
DEFAULT_CAPABILITIES = Capabilities(
    operations=frozenset({"generate", "edit"}),
    sizes=("auto", "1024x1024", "1536x1024", "1024x1536"),
    qualities=("auto", "low", "medium", "high"),
    max_n=10,
    transparent_background=True,
    backgrounds=("auto", "opaque", "transparent"),
    output_formats=("png", "jpeg", "webp"),
    moderation_levels=("auto", "low"),
    input_fidelities=("low", "high"),
    max_input_images=16,
    mask=True,
    streaming=True,
    max_partial_images=3,
    max_prompt_chars=32000,
)

GENERATIONS_PATH = "/images/generations"
EDITS_PATH = "/images/edits"
IMAGE_KEYS = (b"b64_json",)
