"""``GET /console/catalog``: the models this gateway serves and prices, searchable by exact model id.

Public (no sign-in) while ``IMAGEGATE_PUBLIC_PRICING`` allows, like ``/api/pricing``, from the same
document (``service.pricing_catalog``). Live route health shows to signed-in operators, and to
everyone when ``IMAGEGATE_PUBLIC_ROUTE_HEALTH`` is on.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from imagegate.service.pricing_catalog import pricing_document
from imagegate.web.auth import current_session, to_signin
from imagegate.web.render import render
from imagegate.web.state import deps


def matches(row: dict[str, Any], wanted: str) -> bool:
    """Whether a catalog row answers to the exact model id ``wanted`` (alias, provider id or catalog alias)."""
    names = {row.get("model"), row.get("provider_model"), *row.get("catalog_aliases", [])}
    return wanted in names


def price_grid(points: list[dict[str, Any]]) -> tuple[list[str | None], list[tuple[str | None, list[str | None]]]]:
    """Per-image prices as a size x quality grid: the qualities, then one row per size (``None`` where unpriced)."""
    qualities = list(dict.fromkeys(point["quality"] for point in points))
    sizes = list(dict.fromkeys(point["size"] for point in points))
    price = {(point["size"], point["quality"]): point["usd"] for point in points}
    return qualities, [(size, [price.get((size, quality)) for quality in qualities]) for size in sizes]


async def catalog(request: Request) -> Response:
    """The catalog and pricing page."""
    console = deps(request)
    session = await current_session(request)
    if session is None and not console.public_pricing:
        return to_signin(request)
    statuses = None
    if console.routing is not None and (session is not None or console.public_route_health):
        statuses = await anyio.to_thread.run_sync(console.routing.statuses, console.health)
    document = pricing_document(console.catalog, console.gateway.routes, console.today(), statuses)
    wanted = request.query_params.get("model", "").strip()
    rows = [row for row in document["models"] if wanted == "" or matches(row, wanted)]
    for row in rows:
        row["price_grid"] = price_grid(row.get("per_image", []))
    return render(
        request,
        "catalog.html",
        session,
        active="catalog",
        title="Catalog and pricing",
        rows=rows,
        wanted=wanted,
        live_health=statuses is not None,
    )
