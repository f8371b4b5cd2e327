"""Gemini image models as data: ids, shapes per aspect ratio and size tier, token counts, errors.

Facts: shared/reference/providers.md §3 and pricing.md §2.1-2.2 (pixel tables written out here
on purpose, independently of the gateway's own tables, so a mistake in either shows in tests).
Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["GEMINI_MODELS", "GeminiModel", "GoogleError", "google_error", "input_image_tokens", "lookup_gemini"]

_STANDARD_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
_EXTENDED_RATIOS = ("1:4", "4:1", "1:8", "8:1")

# Gemini 2.5 Flash Image: one size per ratio, no imageSize.
_FLASH_25_SIZES: Mapping[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
# Gemini 3 Pro Image and 3.1 Flash Image at 1K; 2K and 4K are x2 and x4.
_GEMINI_3_1K: Mapping[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
    "1:4": (512, 2064),
    "4:1": (2064, 512),
    "1:8": (352, 2928),
    "8:1": (2928, 352),
}
# The 512 tier (3.1 Flash only): measured for 21:9 and the extended ratios, half of 1K otherwise.
_GEMINI_31_512: Mapping[str, tuple[int, int]] = {
    **{ratio: (w // 2, h // 2) for ratio, (w, h) in _GEMINI_3_1K.items()},
    "21:9": (784, 336),
    "1:4": (256, 1024),
    "4:1": (1024, 256),
    "1:8": (176, 1456),
    "8:1": (1456, 176),
}


@dataclass(frozen=True, eq=False)
class GeminiModel:
    """One Gemini image model id and what it accepts."""

    id: str
    family: str
    ratios: tuple[str, ...]
    image_sizes: tuple[str, ...]  # () = imageSize not accepted
    output_tokens: Mapping[str, int]  # per size tier ("1K" for models without tiers)
    input_image_tokens: int | None  # fixed per image, or None for the tile rule
    max_input_images: int
    thinks: bool
    search_tool: bool

    def shape(self, ratio: str, size: str) -> tuple[int, int]:
        """Pixel size of an image at ``ratio`` and size tier ``size``."""
        if not self.image_sizes:
            return _FLASH_25_SIZES[ratio]
        if size == "512":
            return _GEMINI_31_512[ratio]
        width, height = _GEMINI_3_1K[ratio]
        factor = {"1K": 1, "2K": 2, "4K": 4}[size]
        return width * factor, height * factor


def _pro(model_id: str) -> GeminiModel:
    return GeminiModel(
        model_id,
        "gemini-3-pro-image",
        _STANDARD_RATIOS,
        ("1K", "2K", "4K"),
        {"1K": 1120, "2K": 1120, "4K": 2000},
        560,
        14,
        thinks=True,
        search_tool=True,
    )


def _flash31(model_id: str) -> GeminiModel:
    return GeminiModel(
        model_id,
        "gemini-3.1-flash-image",
        _STANDARD_RATIOS + _EXTENDED_RATIOS,
        ("512", "1K", "2K", "4K"),
        {"512": 747, "1K": 1120, "2K": 1680, "4K": 2520},
        1120,
        14,
        thinks=True,
        search_tool=True,
    )


def _flash25(model_id: str) -> GeminiModel:
    return GeminiModel(
        model_id, "gemini-2.5-flash-image", _STANDARD_RATIOS, (), {"1K": 1290}, None, 3, thinks=False, search_tool=False
    )


GEMINI_MODELS: Mapping[str, GeminiModel] = {
    spec.id: spec
    for spec in (
        _pro("gemini-3-pro-image"),
        _pro("gemini-3-pro-image-preview"),
        _flash31("gemini-3.1-flash-image"),
        _flash31("gemini-3.1-flash-image-preview"),
        _flash25("gemini-2.5-flash-image"),
        _flash25("gemini-2.5-flash-image-preview"),
    )
}


class GoogleError(Exception):
    """An error answer in Google's shape: ``{"error": {code, message, status, details?}}``."""

    def __init__(
        self,
        code: int,
        status: str,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.details = list(details or [])
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON error envelope."""
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def google_error(message: str, *, field_name: str | None = None) -> GoogleError:
    """A 400 ``INVALID_ARGUMENT``, with a ``BadRequest`` field violation when a field is named."""
    details = None
    if field_name is not None:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field_name, "description": message}],
            }
        ]
    return GoogleError(400, "INVALID_ARGUMENT", message, details=details)


def lookup_gemini(model: str, method: str, version: str) -> GeminiModel:
    """The spec for ``model``; 404 ``NOT_FOUND`` with Google's wording otherwise."""
    spec = GEMINI_MODELS.get(model)
    if spec is None:
        raise GoogleError(
            404,
            "NOT_FOUND",
            f"models/{model} is not found for API version {version}, or is not "
            f"supported for {method}. Call ListModels to see the list of available models and their "
            "supported methods.",
        )
    return spec


def input_image_tokens(spec: GeminiModel, width: int, height: int) -> int:
    """Prompt tokens of one input image: fixed per model, or 258 per 768-px tile (Gemini 2.x rule)."""
    if spec.input_image_tokens is not None:
        return spec.input_image_tokens
    if width <= 384 and height <= 384:
        return 258
    return math.ceil(width / 768) * math.ceil(height / 768) * 258
