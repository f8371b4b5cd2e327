"""The estimator behind ``POST /api/estimate`` and ``imagegate estimate``: resolve the models a
caller names, price the workflow for each with ``pricing.estimate``, and say what to watch for.

A name is resolved in this order: a model alias this gateway serves (priced by its first route
the catalog prices), ``provider/model`` (``fal/fal-ai/flux-2-pro``), then a catalog model id or
alias that exactly one provider has. One model that cannot be priced does not fail the
comparison: its row carries the reason instead of figures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from imagegate.catalog import Catalog, CatalogModel
from imagegate.domain.money import usd_string
from imagegate.domain.size import SIZE_SPELLING, is_size
from imagegate.pricing.estimate import Estimate, EstimateError, Workflow, estimate
from imagegate.routing.table import RouteTable

MAX_MODELS = 10
# A resolution tier as the Google dialects name it (1K, 2K, 4K, 512): ASCII, positive.
_TIER = re.compile(r"[1-9][0-9]{0,3}K?", re.ASCII)


class EstimateSpec(BaseModel):
    """The estimator's input as JSON (the API body) or CLI flags; see docs/pricing.md."""

    model_config = ConfigDict(extra="forbid")

    models: list[str] = Field(min_length=1, max_length=MAX_MODELS)
    size: str | None = None
    quality: str | None = None
    n: int | None = Field(default=None, ge=1, le=100)
    reference_images: list[str] = Field(default_factory=list, max_length=16)
    input_fidelity: Literal["low", "high"] | None = None
    partial_images: int = Field(default=0, ge=0, le=3)
    prompt_tokens: int = Field(default=0, ge=0, le=1_000_000)
    thinking_tokens: int | None = Field(default=None, ge=0, le=1_000_000)
    monthly_images: int | None = Field(default=None, ge=0, le=10**12)
    retry_rate: Decimal = Field(default=Decimal(0), ge=0, le=10)
    acceptance_rate: Decimal = Field(default=Decimal(1), ge=0, le=1)
    batch: bool = False

    @field_validator("size")
    @classmethod
    def _known_size(cls, value: str | None) -> str | None:
        # Refused here, naming ``size``: pricing would otherwise read ``0x0`` as an unknown tier.
        if value is None or value == "auto" or is_size(value) or _TIER.fullmatch(value) is not None:
            return value
        raise ValueError(f"{value!r} is not a size: expected auto, {SIZE_SPELLING}, or a resolution tier such as 1K")

    def workflow(self) -> Workflow:
        """The pricing ``Workflow``; raises ValueError for an unreadable reference size."""
        return Workflow(
            size=self.size,
            quality=self.quality,
            n=self.n,
            reference_images=tuple(self.reference_images),
            input_fidelity=self.input_fidelity,
            partial_images=self.partial_images,
            prompt_tokens=self.prompt_tokens,
            thinking_tokens=self.thinking_tokens,
            monthly_images=self.monthly_images,
            retry_rate=self.retry_rate,
            acceptance_rate=self.acceptance_rate,
            batch=self.batch,
        )


@dataclass(frozen=True, slots=True)
class ModelEstimate:
    """One compared model: what the name resolved to, its figures (or why none), and warnings."""

    name: str
    provider: str | None
    provider_model: str | None
    estimate: Estimate | None
    error: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape: money as decimal strings of USD, six places."""
        figures: dict[str, Any] = {}
        if self.estimate is not None:
            e = self.estimate
            figures = {
                "n": e.n,
                "tier": e.tier,
                "unit": e.unit,
                "per_request_usd": usd_string(e.per_request_micros),
                "per_generated_image_usd": usd_string(e.per_generated_image_micros),
                "per_accepted_image_usd": _usd_or_none(e.per_accepted_image_micros),
                "per_month_usd": _usd_or_none(e.per_month_micros),
                "requests_per_month": _plain(e.requests_per_month),
                "accepted_images_per_month": _plain(e.accepted_per_month),
                "estimated": e.estimated,
                "breakdown_usd": {line: usd_string(micros) for line, micros in e.breakdown.items()},
            }
        return {
            "model": self.name,
            "provider": self.provider,
            "provider_model": self.provider_model,
            **figures,
            "error": self.error,
            "warnings": list(self.warnings),
        }


class UnknownModel(LookupError):
    """A name the estimator cannot resolve to one catalog row."""


def resolve(name: str, catalog: Catalog, routes: RouteTable | None) -> CatalogModel:
    """The catalog row ``name`` stands for (see the module doc); raises ``UnknownModel``."""
    if routes is not None:
        alias = next((a for a in routes.aliases() if a.name == name), None)
        if alias is not None:
            for target in alias.routes:
                entry = catalog.find(target.provider, target.model)
                if entry is not None:
                    return entry
            raise UnknownModel(f"model {name!r} is served here but none of its routes has a catalog price")
    provider, sep, rest = name.partition("/")
    if sep and provider in catalog.providers():
        entry = catalog.find(provider, rest)
        if entry is not None:
            return entry
    matches = [entry for p in catalog.providers() if (entry := catalog.find(p, name)) is not None]
    if len(matches) == 1:
        return matches[0]
    if matches:
        choices = ", ".join(f"{m.provider}/{m.model}" for m in matches)
        raise UnknownModel(f"model {name!r} is ambiguous: name one of {choices}")
    raise UnknownModel(f"model {name!r} is neither served by this gateway nor in the catalog")


def compare(spec: EstimateSpec, catalog: Catalog, routes: RouteTable | None, *, today: date) -> list[ModelEstimate]:
    """Side-by-side estimates for every model in ``spec``, in the order given.

    Raises ValueError when the workflow itself is invalid (it is the same for every model).
    """
    workflow = spec.workflow()
    results = []
    for name in spec.models:
        try:
            entry = resolve(name, catalog, routes)
        except UnknownModel as exc:
            results.append(ModelEstimate(name, None, None, None, error=str(exc)))
            continue
        warnings = _warnings(entry, workflow, today)
        try:
            figures = estimate(entry.price, workflow)
        except EstimateError as exc:
            results.append(ModelEstimate(name, entry.provider, entry.model, None, str(exc), warnings))
            continue
        results.append(ModelEstimate(name, entry.provider, entry.model, figures, None, warnings))
    return results


def _warnings(entry: CatalogModel, workflow: Workflow, today: date) -> tuple[str, ...]:
    notes = []
    life = entry.lifecycle
    replacement = f" (replacement: {life.replacement})" if life.replacement else ""
    if life.shutdown_on is not None:
        verb = "shut down on" if life.is_shut_down(today) else "shuts down on"
        notes.append(f"{verb} {life.shutdown_on.isoformat()}{replacement}")
    elif life.is_deprecated(today):
        notes.append(f"deprecated since {life.deprecated_on}{replacement}")
    if entry.unverified or entry.price.unverified:
        notes.append("price row marked unverified: check it before billing from it")
    if workflow.n is not None and workflow.n > entry.capabilities.max_n:
        notes.append(f"n={workflow.n} is above the model's maximum of {entry.capabilities.max_n} per request")
    if workflow.reference_images and entry.capabilities.max_input_images < len(workflow.reference_images):
        notes.append(f"the model takes at most {entry.capabilities.max_input_images} reference images")
    return tuple(notes)


def _usd_or_none(micros: int | None) -> str | None:
    return None if micros is None else usd_string(micros)


def _plain(value: Decimal | None) -> str | None:
    # Counts such as 333.333... requests a month: a decimal string, trailing zeros dropped.
    if value is None:
        return None
    text = format(value.quantize(Decimal("0.001")).normalize(), "f")
    return text
