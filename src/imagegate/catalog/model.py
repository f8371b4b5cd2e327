"""The catalog's read side: one ``CatalogModel`` per provider model, and the ``Catalog`` index.

Everything here is immutable once loaded; ``catalog.loader`` builds it from the shipped JSON plus
operator overrides and is the only place that validates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from imagegate.domain.capabilities import Capabilities
from imagegate.pricing.rows import PriceRow


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """When a model stops being offered, and what replaces it. ``None`` = nothing announced."""

    deprecated_on: date | None = None
    shutdown_on: date | None = None
    replacement: str | None = None
    notes: str | None = None

    def is_shut_down(self, today: date) -> bool:
        """True from ``shutdown_on`` onwards: never route to the model then."""
        return self.shutdown_on is not None and today >= self.shutdown_on

    def is_deprecated(self, today: date) -> bool:
        """True from ``deprecated_on`` (or shutdown) onwards: still routable, worth a warning."""
        if self.deprecated_on is not None and today >= self.deprecated_on:
            return True
        return self.is_shut_down(today)


@dataclass(frozen=True, slots=True)
class CatalogModel:
    """One provider model: ids, endpoint families, capabilities, price and lifecycle, with sources.

    ``provider`` is a provider folder name (``openai``, ``gemini``, ``bfl`` ...); ``endpoint_types``
    are the wire families the model answers on. ``unverified`` flags rows whose facts come from
    secondary sources or conflict; the price row carries its own flag too.
    """

    model: str
    aliases: tuple[str, ...]
    provider: str
    family: str
    endpoint_types: tuple[str, ...]
    capabilities: Capabilities
    price: PriceRow
    lifecycle: Lifecycle
    source: tuple[str, ...]
    as_of: date
    unverified: bool = False
    notes: str | None = None

    @property
    def ids(self) -> tuple[str, ...]:
        """The model id followed by its aliases."""
        return (self.model, *self.aliases)


class Catalog:
    """An immutable index of catalog models by provider and by id or alias."""

    __slots__ = ("_by_key", "_models")

    def __init__(self, models: Iterable[CatalogModel]) -> None:
        self._models: tuple[CatalogModel, ...] = tuple(models)
        by_key: dict[tuple[str, str], CatalogModel] = {}
        for entry in self._models:
            for model_id in entry.ids:
                key = (entry.provider, model_id)
                other = by_key.get(key)
                if other is not None and other is not entry:
                    raise ValueError(f"{entry.provider}/{model_id} names both {other.model!r} and {entry.model!r}")
                by_key[key] = entry
        self._by_key = by_key

    def find(self, provider: str, model: str) -> CatalogModel | None:
        """The row for ``model`` (an id or alias) at ``provider``, or ``None``."""
        return self._by_key.get((provider, model))

    def models(self) -> list[CatalogModel]:
        """Every row, in load order."""
        return list(self._models)

    def for_provider(self, provider: str) -> list[CatalogModel]:
        """The rows of one provider, in load order."""
        return [entry for entry in self._models if entry.provider == provider]

    def providers(self) -> list[str]:
        """Provider names present in the catalog, sorted."""
        return sorted({entry.provider for entry in self._models})

    def __len__(self) -> int:
        return len(self._models)
