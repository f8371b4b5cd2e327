"""Response headers every dialect adds to a served request, beyond its own wire format.

- ``x-imagegate-cost-usd`` / ``x-imagegate-cost-estimated`` / ``x-imagegate-route``;
- ``x-imagegate-size``: the pixel size actually produced (a translation picks the nearest size
  the model can make, so it may differ from what was asked);
- model lifecycle, for a model with an announced end: ``Deprecation`` (RFC 9745, ``@<epoch>``),
  ``Sunset`` (RFC 8594, an HTTP date) and ``Link: <...>; rel="successor-version"`` naming the
  replacement; when the replacement was served instead (``after_shutdown: replace``),
  ``x-imagegate-replaced-model`` (what the route names) and ``x-imagegate-served-model``.
"""

from __future__ import annotations

import calendar
from datetime import date
from email.utils import formatdate

from imagegate.catalog.model import Lifecycle
from imagegate.domain.money import usd_string
from imagegate.service.images import Served, StreamSession
from imagegate.service.plan import PlannedRoute


def _epoch(day: date) -> int:
    return calendar.timegm(day.timetuple())


def lifecycle_headers(lifecycle: Lifecycle | None, *, models_path: str) -> dict[str, str]:
    """``Deprecation``/``Sunset``/``Link`` for a model with an announced end; {} otherwise.

    ``models_path`` is where the client's dialect lists a model (``/v1/models/``), so the link
    points at the replacement in the client's own API.
    """
    if lifecycle is None:
        return {}
    deprecated = lifecycle.deprecated_on if lifecycle.deprecated_on is not None else lifecycle.shutdown_on
    if deprecated is None:
        return {}
    headers = {"deprecation": f"@{_epoch(deprecated)}"}
    if lifecycle.shutdown_on is not None:
        headers["sunset"] = formatdate(_epoch(lifecycle.shutdown_on), usegmt=True)
    if lifecycle.replacement is not None:
        headers["link"] = f'<{models_path}{lifecycle.replacement}>; rel="successor-version"'
    return headers


def served_headers(served: Served, request_id: str, *, models_path: str) -> dict[str, str]:
    """The gateway's headers for a served request (see the module docstring)."""
    headers = {
        "x-request-id": request_id,
        "x-imagegate-cost-usd": usd_string(served.charge.micros),
        "x-imagegate-route": served.route.target.name,
    }
    if served.charge.estimated:
        headers["x-imagegate-cost-estimated"] = "true"
    if served.result.size is not None:
        headers["x-imagegate-size"] = served.result.size
    headers.update(_route_headers(served.route, models_path))
    return headers


def stream_headers(session: StreamSession, request_id: str, *, models_path: str) -> dict[str, str]:
    """The gateway's headers for a passed-through stream (its cost is known only at the end)."""
    return passthrough_headers(session.route, request_id, models_path=models_path)


def passthrough_headers(route: PlannedRoute, request_id: str, *, models_path: str) -> dict[str, str]:
    """The gateway's headers for an answer forwarded as it arrives: no cost (it comes last, in the body)."""
    return {"x-request-id": request_id, "x-imagegate-route": route.target.name, **_route_headers(route, models_path)}


def _route_headers(route: PlannedRoute, models_path: str) -> dict[str, str]:
    headers = lifecycle_headers(route.lifecycle, models_path=models_path)
    if route.replaced_from is not None:
        headers["x-imagegate-replaced-model"] = route.replaced_from
        headers["x-imagegate-served-model"] = route.target.model
    return headers
