"""The Gemini image parameter table, the foreign fields it translates, and catalog-less defaults.

Facts: shared/reference/providers.md §3, checked against google-genai 3.4.0
(``_GenerateContentConfig_to_mldev``, ``_ImageConfig_to_mldev``, ``types.FinishReason``).
Wire names here are paths inside ``generationConfig``.
"""

from __future__ import annotations

from imagegate.domain.capabilities import Capabilities
from imagegate.providers.mapping import Param, ParameterTable

DIALECT = "gemini"

# Canonical field -> path inside generationConfig. ``size`` never arrives: service.conform turns
# a pixel size into aspect ratio + resolution for models that take those. ``user`` is not here on
# purpose: it names the caller for abuse monitoring, does not change the image, and Gemini has no
# such field (docs/translation.md).
PARAMETERS = ParameterTable(
    [
        Param("n", "candidateCount"),
        Param("seed", "seed"),
        Param("aspect_ratio", "imageConfig.aspectRatio"),
        Param("resolution", "imageConfig.imageSize"),
        Param("size", None, reason="send an aspect ratio and a resolution tier instead"),
        Param("quality", None, reason="Gemini image models have one quality level; omit it or send 'auto'"),
        Param("background", None, reason="Gemini image models make opaque images only"),
        Param("output_format", None, reason="the Gemini API chooses the image format (JPEG or PNG)"),
        Param("output_compression", None, reason="the Gemini API chooses the image format"),
        Param("moderation", None, reason="use Gemini safetySettings instead"),
        Param("input_fidelity", None, reason="Gemini reads reference images at one fidelity"),
        Param("partial_images", None, reason="Gemini streams finished images only"),
    ]
)

# Fields of other dialects (``ImageRequest.extra`` keys) this adapter translates; every other
# foreign field is refused by service.conform with a 400 naming it.
FOREIGN_EXTRAS = frozenset(
    {
        "parameters.personGeneration",  # Imagen -> imageConfig.personGeneration (Vertex only)
        "parameters.safetySetting",  # Imagen -> safetySettings for every harm category
        "safety_identifier",  # OpenAI: an end-user id, like ``user``; not forwarded
    }
)

HARM_CATEGORIES = (
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
)
# Imagen's single safetySetting (either case) -> Gemini's per-category threshold.
SAFETY_THRESHOLDS = {
    "block_low_and_above": "BLOCK_LOW_AND_ABOVE",
    "block_medium_and_above": "BLOCK_MEDIUM_AND_ABOVE",
    "block_only_high": "BLOCK_ONLY_HIGH",
    "block_none": "BLOCK_NONE",
}
# Imagen's personGeneration -> Vertex imageConfig.personGeneration.
PERSON_GENERATION = {"dont_allow": "ALLOW_NONE", "allow_adult": "ALLOW_ADULT", "allow_all": "ALLOW_ALL"}

# finishReason values meaning the safety or policy system withheld the output.
BLOCKED_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_RECITATION",
    }
)

# The base64 fields a response skeleton blanks: image bytes and thought signatures.
IMAGE_KEYS = (b"data", b"thoughtSignature")

# For a model id the catalog does not list (a new snapshot): what every Gemini image model accepts.
DEFAULT_CAPABILITIES = Capabilities(
    operations=frozenset({"generate", "edit"}),
    aspect_ratios=("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"),
    resolutions=("1K", "2K", "4K"),
    max_n=1,
    max_input_images=14,
    streaming=True,
    seed=True,
)
