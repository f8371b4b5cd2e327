"""The model catalog: ids and aliases, endpoint families, capabilities, price rows and lifecycle.

Data ships in ``catalog/data/*.json`` (one file per provider family) and operators override it
without code (``load_catalog(overrides=..., extra_files=...)``). See docs/pricing.md.
"""

from imagegate.catalog.loader import CatalogError, load_catalog, shipped_files
from imagegate.catalog.model import Catalog, CatalogModel, Lifecycle

__all__ = ["Catalog", "CatalogError", "CatalogModel", "Lifecycle", "load_catalog", "shipped_files"]
