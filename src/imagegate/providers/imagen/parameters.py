"""The Imagen ``:predict`` parameter table and defaults.

Facts: shared/reference/providers.md §4 and google-genai 2.10 / 3.4 ``_GenerateImagesConfig_to_*``.
``sampleCount`` defaults to 4 on the wire, so the adapter always sends it.
"""

from __future__ import annotations

from imagegate.domain.capabilities import Capabilities
from imagegate.providers.mapping import Param, ParameterTable

DIALECT = "imagen"

PARAMETERS = ParameterTable(
    [
        Param("n", "sampleCount"),
        Param("aspect_ratio", "aspectRatio"),
        Param("resolution", "sampleImageSize"),
        Param("output_format", "outputOptions.mimeType", transform=lambda fmt: f"image/{fmt}"),
        Param("output_compression", "outputOptions.compressionQuality"),
        Param("seed", "seed"),
        Param("size", None, reason="send an aspect ratio and a resolution tier instead"),
        Param("quality", None, reason="Imagen has one quality level per model; omit it or send 'auto'"),
        Param("background", None, reason="Imagen makes opaque images only"),
        Param("moderation", None, reason="use Imagen's safetySetting instead"),
        Param("input_fidelity", None, reason="Imagen generation takes no input images"),
        Param("partial_images", None, reason="Imagen does not stream"),
    ]
)

FOREIGN_EXTRAS = frozenset({"safety_identifier"})

# Image bytes in a response skeleton.
IMAGE_KEYS = (b"bytesBase64Encoded",)

DEFAULT_CAPABILITIES = Capabilities(
    operations=frozenset({"generate"}),
    aspect_ratios=("1:1", "3:4", "4:3", "9:16", "16:9"),
    resolutions=("1K",),
    max_n=4,
    output_formats=("png", "jpeg"),
)
