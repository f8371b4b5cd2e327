"""``imagegate catalog``: show the price rows this deployment uses, install a newer price file.

The shipped rows inside the package are never written. ``catalog update FILE`` validates FILE
together with everything else the gateway loads, then copies it into the data directory
(``$IMAGEGATE_DATA_DIR/catalog/``), where the gateway loads it over the shipped rows at startup;
the config's ``catalog:`` overrides still come last. Installing a file with the same name again
replaces it; deleting it there undoes it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from imagegate.catalog import Catalog, CatalogError, load_catalog
from imagegate.cli.common import config_from, console, fail, settings_from_env

catalog_app = typer.Typer(
    help="Show and update the model catalog (prices, capabilities, lifecycle).", no_args_is_help=True
)


@catalog_app.command("show")
def show(
    provider: str | None = typer.Option(None, "--provider", help="Only this provider's rows."),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="YAML config whose overrides apply (default: $IMAGEGATE_CONFIG)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows (the shape of GET /api/pricing's 'models')."),
) -> None:
    """List catalog rows as the gateway would price them."""
    from imagegate.route_config import build_route_table
    from imagegate.routing.table import RouteTable
    from imagegate.service.pricing_catalog import pricing_document
    from imagegate.wiring import load_operator_catalog, operator_catalog_files, utc_today

    settings = settings_from_env()
    gateway_config = config_from(config, settings)
    try:
        catalog = load_operator_catalog(settings, gateway_config)
    except CatalogError as exc:
        raise fail(str(exc)) from None
    # Catalog rows only: served aliases are /api/pricing's business, not the catalog's.
    rows = pricing_document(catalog, RouteTable([]), utc_today())["models"]
    if provider is not None:
        rows = [row for row in rows if row["provider"] == provider]
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    table = Table("provider", "model", "unit", "default image", "$ per image", "shutdown", "as of")
    for row in rows:
        default = row["default_image"] or {}
        shape = " ".join(str(part) for part in (default.get("size"), default.get("quality")) if part) or "-"
        shutdown = row["lifecycle"]["shutdown_on"] or "-"
        table.add_row(
            row["provider"],
            row["model"] + (" (unverified)" if row["unverified"] else ""),
            row["unit"],
            shape,
            default.get("usd", "-"),
            shutdown,
            row["as_of"],
        )
    console.print(table)
    files = operator_catalog_files(settings)
    served = {alias.name for alias in build_route_table(gateway_config).aliases()}
    console.print(
        f"{len(rows)} rows; price files over the shipped data: "
        f"{', '.join(str(path) for path in files) or 'none'}; "
        f"config overrides: {len(gateway_config.catalog)}; served aliases: {len(served)}",
        highlight=False,
    )


@catalog_app.command("update")
def update(
    file: Path = typer.Argument(..., help='A catalog JSON file: {"schema_version": 1, "models": [...]}.'),
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML config whose overrides must still apply."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and show the changes, install nothing."),
) -> None:
    """Validate FILE and install it over the shipped prices (restart the gateway to use it)."""
    from imagegate.wiring import operator_catalog_files

    settings = settings_from_env()
    gateway_config = config_from(config, settings)
    if file.suffix != ".json":
        raise fail(f"{file}: a catalog file must be a .json file")
    target = settings.catalog_dir() / file.name
    others = [path for path in operator_catalog_files(settings) if path.name != file.name]
    try:
        before = load_catalog(
            overrides=gateway_config.catalog, extra_files=[*others, *([target] if target.exists() else [])]
        )
        after = load_catalog(overrides=gateway_config.catalog, extra_files=[*others, file])
    except CatalogError as exc:
        raise fail(str(exc)) from None
    added, changed = _changes(before, after)
    for line in added:
        console.print(f"  added    {line}", highlight=False)
    for line in changed:
        console.print(f"  changed  {line}", highlight=False)
    console.print(f"{file}: valid; {len(after)} rows, {len(added)} added, {len(changed)} changed.", highlight=False)
    if dry_run:
        return
    _install(file, target)
    console.print(f"Installed as {target}. Restart the gateway to price with it.", highlight=False)


def _changes(before: Catalog, after: Catalog) -> tuple[list[str], list[str]]:
    """Rows new in ``after``, and rows whose price, capabilities or lifecycle differ."""
    old = {(m.provider, m.model): m for m in before.models()}
    added, changed = [], []
    for entry in after.models():
        key = (entry.provider, entry.model)
        previous = old.get(key)
        if previous is None:
            added.append(f"{entry.provider}/{entry.model}")
            continue
        fields = [name for name, a, b in _compared(previous, entry) if a != b]
        if fields:
            changed.append(f"{entry.provider}/{entry.model} ({', '.join(fields)})")
    return added, changed


def _compared(a: Any, b: Any) -> list[tuple[str, Any, Any]]:
    return [
        ("price", a.price.model_dump(), b.price.model_dump()),
        ("capabilities", a.capabilities, b.capabilities),
        ("lifecycle", a.lifecycle, b.lifecycle),
        ("aliases", a.aliases, b.aliases),
    ]


def _install(source: Path, target: Path) -> None:
    # Copy through a temporary file and rename: a gateway starting meanwhile sees the old file
    # or the new one, never half of one.
    target.parent.mkdir(parents=True, exist_ok=True)
    data = source.read_bytes()
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".update-", suffix=".json.tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
