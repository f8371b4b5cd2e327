"""What a provider model can do, as data the catalog loads and every dialect validates against."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class CustomSizeRule:
    """Rules for free-form ``WxH`` sizes (gpt-image-2 style)."""

    multiple_of: int
    max_edge: int
    max_aspect_ratio: float
    min_pixels: int
    max_pixels: int


@dataclass(frozen=True, slots=True)
class Capabilities:
    """A provider model's accepted parameters. Empty tuples mean "parameter not accepted"."""

    operations: frozenset[str] = frozenset({"generate"})
    sizes: tuple[str, ...] = ()
    custom_size: CustomSizeRule | None = None
    aspect_ratios: tuple[str, ...] = ()
    resolutions: tuple[str, ...] = ()
    qualities: tuple[str, ...] = ()
    max_n: int = 1
    transparent_background: bool = False
    backgrounds: tuple[str, ...] = ()
    output_formats: tuple[str, ...] = ()
    moderation_levels: tuple[str, ...] = ()
    input_fidelities: tuple[str, ...] = ()
    max_input_images: int = 0
    mask: bool = False
    streaming: bool = False
    max_partial_images: int = 0
    seed: bool = False
    styles: tuple[str, ...] = ()
    max_prompt_chars: int | None = None
    default_size: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
