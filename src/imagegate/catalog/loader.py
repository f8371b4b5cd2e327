"""Load the catalog: shipped JSON rows, operator files and overrides, validated with pydantic.

Data format (see docs/pricing.md): each file is ``{"schema_version": 1, "models": [row, ...]}``;
a row is the ``CatalogRow`` schema below. Overrides are partial rows matched on ``provider`` +
``model`` and deep-merged (dicts merge key by key, lists and scalars replace); an override that
matches nothing must be a complete row and is added. Any invalid value raises ``CatalogError``
naming the row, where it came from, and the dotted path of the bad field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError

from imagegate.catalog.model import Catalog, CatalogModel, Lifecycle
from imagegate.domain.capabilities import Capabilities, CustomSizeRule
from imagegate.pricing.rows import PriceRow, deep_merge

SCHEMA_VERSION = 1
_DATA_PACKAGE = "imagegate.catalog"


class CatalogError(ValueError):
    """Catalog data is invalid; the message names the row, its origin and the field."""


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CustomSizeSpec(_Spec):
    """Free-form ``WxH`` limits; maps onto ``domain.capabilities.CustomSizeRule``."""

    multiple_of: PositiveInt
    max_edge: PositiveInt
    max_aspect_ratio: Annotated[float, Field(ge=1)]
    min_pixels: PositiveInt
    max_pixels: PositiveInt


class CapabilitiesSpec(_Spec):
    """The JSON form of ``domain.capabilities.Capabilities`` (same field names)."""

    operations: tuple[Annotated[str, Field(pattern="^(generate|edit|respond)$")], ...] = ("generate",)
    sizes: tuple[str, ...] = ()
    custom_size: CustomSizeSpec | None = None
    aspect_ratios: tuple[str, ...] = ()
    resolutions: tuple[str, ...] = ()
    qualities: tuple[str, ...] = ()
    max_n: PositiveInt = 1
    transparent_background: bool = False
    backgrounds: tuple[str, ...] = ()
    output_formats: tuple[str, ...] = ()
    moderation_levels: tuple[str, ...] = ()
    input_fidelities: tuple[str, ...] = ()
    max_input_images: Annotated[int, Field(ge=0)] = 0
    mask: bool = False
    streaming: bool = False
    max_partial_images: Annotated[int, Field(ge=0)] = 0
    seed: bool = False
    styles: tuple[str, ...] = ()
    max_prompt_chars: PositiveInt | None = None
    default_size: str | None = None
    notes: tuple[str, ...] = ()

    def to_domain(self) -> Capabilities:
        """The domain ``Capabilities`` value."""
        fields = self.model_dump(exclude={"operations", "custom_size"})
        custom = CustomSizeRule(**self.custom_size.model_dump()) if self.custom_size else None
        return Capabilities(operations=frozenset(self.operations), custom_size=custom, **fields)


class LifecycleSpec(_Spec):
    """The JSON form of ``catalog.model.Lifecycle``."""

    deprecated_on: date | None = None
    shutdown_on: date | None = None
    replacement: str | None = None
    notes: str | None = None


class CatalogRow(_Spec):
    """One catalog row as stored in JSON."""

    model: Annotated[str, Field(min_length=1)]
    aliases: tuple[str, ...] = ()
    provider: Annotated[str, Field(pattern="^[a-z][a-z0-9_]*$")]
    family: str
    endpoint_types: tuple[str, ...] = Field(min_length=1)
    capabilities: CapabilitiesSpec
    pricing: PriceRow
    lifecycle: LifecycleSpec = LifecycleSpec()
    source: tuple[str, ...] = Field(min_length=1)
    as_of: date
    unverified: bool = False
    notes: str | None = None

    def to_model(self) -> CatalogModel:
        """The immutable ``CatalogModel`` the rest of the gateway reads."""
        return CatalogModel(
            model=self.model,
            aliases=self.aliases,
            provider=self.provider,
            family=self.family,
            endpoint_types=self.endpoint_types,
            capabilities=self.capabilities.to_domain(),
            price=self.pricing,
            lifecycle=Lifecycle(**self.lifecycle.model_dump()),
            source=self.source,
            as_of=self.as_of,
            unverified=self.unverified,
            notes=self.notes,
        )


def shipped_files() -> list[Path]:
    """The JSON files shipped in ``imagegate/catalog/data``, sorted by name."""
    data_dir = resources.files(_DATA_PACKAGE) / "data"
    return sorted(
        (Path(str(entry)) for entry in data_dir.iterdir() if entry.name.endswith(".json")),
        key=lambda path: path.name,
    )


def load_catalog(overrides: list[dict[str, Any]] | None = None, extra_files: list[Path] | None = None) -> Catalog:
    """Build the catalog from the shipped rows, then ``extra_files``, then ``overrides``.

    Rows in ``extra_files`` and ``overrides`` are applied in order, each deep-merged into the row
    with the same ``provider`` + ``model`` (or added when none exists). Raises ``CatalogError``.
    """
    raw: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
    for path in shipped_files():
        for index, row in enumerate(_read_rows(path)):
            key = _row_key(row, f"{path.name} row #{index}")
            if key in raw:
                raise CatalogError(f"{path.name} row #{index}: duplicate row {key[0]}/{key[1]}")
            raw[key] = (row, f"{path.name} row #{index}")
    for path in extra_files or []:
        _apply(raw, _read_rows(Path(path)), Path(path).name)
    _apply(raw, overrides or [], "override")

    models: list[CatalogModel] = []
    for (provider, model), (row, origin) in raw.items():
        models.append(_validate(row, f"catalog row {provider}/{model} ({origin})"))
    try:
        return Catalog(models)
    except ValueError as exc:
        raise CatalogError(f"alias clash: {exc}") from exc


def _apply(
    raw: dict[tuple[str, str], tuple[dict[str, Any], str]],
    rows: Iterable[Mapping[str, Any]],
    origin: str,
) -> None:
    for index, row in enumerate(rows):
        where = f"{origin} #{index}"
        if not isinstance(row, Mapping):
            raise CatalogError(f"{where}: a row must be an object, got {type(row).__name__}")
        key = _row_key(row, where)
        base = raw.get(key)
        if base is None:
            raw[key] = (dict(row), where)
        else:
            raw[key] = (deep_merge(base[0], row), f"{base[1]} + {where}")


def _row_key(row: Mapping[str, Any], where: str) -> tuple[str, str]:
    provider, model = row.get("provider"), row.get("model")
    if not isinstance(provider, str) or not isinstance(model, str):
        raise CatalogError(f"{where}: every row needs string fields 'provider' and 'model'")
    return provider, model


def _read_rows(path: Path) -> list[dict[str, Any]]:
    try:
        # Decimal keeps published rates exact; a binary float never touches money.
        document = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except (OSError, json.JSONDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read catalog file: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("models"), list):
        raise CatalogError(f"{path}: expected an object with a 'models' list")
    if document.get("schema_version") != SCHEMA_VERSION:
        raise CatalogError(f"{path}: schema_version {document.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    rows: list[dict[str, Any]] = document["models"]
    return rows


def _validate(row: dict[str, Any], where: str) -> CatalogModel:
    try:
        return CatalogRow.model_validate(row).to_model()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(row)'}: {error['msg']}" for error in exc.errors()
        )
        raise CatalogError(f"{where}: {problems}") from exc
