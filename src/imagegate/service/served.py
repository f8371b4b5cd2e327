"""``Served``: what serving a plain request gives back (``service.images`` re-exports it)."""

from __future__ import annotations

from dataclasses import dataclass

from imagegate.domain.result import ImageResult
from imagegate.pricing.engine import Charge
from imagegate.service.plan import PlannedRoute


@dataclass(slots=True)
class Served:
    """A request served: the result, the route that served it, and what it cost."""

    result: ImageResult
    route: PlannedRoute
    charge: Charge
    attempt: int
