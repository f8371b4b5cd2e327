"""Ordering an alias's routes for one request: priority, weighted, cheapest or fastest.

Pure: the caller supplies each route's weight, quoted price and recent p50 latency. Routes with
no figure for the chosen criterion keep their configured order after those that have one, so a
new route is still tried, just not first.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

Policy = Literal["priority", "weighted", "cheapest", "fastest"]
POLICIES: tuple[Policy, ...] = ("priority", "weighted", "cheapest", "fastest")

C = TypeVar("C")


def _by_figure(routes: Sequence[C], figure: Callable[[C], float | None]) -> list[C]:
    known = [(figure(route), index, route) for index, route in enumerate(routes)]
    ranked = sorted((item for item in known if item[0] is not None), key=lambda item: (item[0], item[1]))
    unknown = [item for item in known if item[0] is None]
    return [route for _, _, route in ranked] + [route for _, _, route in unknown]


def order_routes(
    policy: Policy,
    routes: Sequence[C],
    *,
    weight: Callable[[C], float] = lambda route: 1.0,
    price: Callable[[C], float | None] = lambda route: None,
    p50: Callable[[C], float | None] = lambda route: None,
    random_unit: Callable[[], float] = random.random,
) -> list[C]:
    """The routes in the order to try them."""
    if policy == "priority":
        return list(routes)
    if policy == "cheapest":
        return _by_figure(routes, price)
    if policy == "fastest":
        return _by_figure(routes, p50)
    if policy == "weighted":
        # Weighted order without replacement (Efraimidis-Spirakis): key = u ** (1 / w), highest first.
        keyed = []
        for index, route in enumerate(routes):
            w = weight(route)
            key = -1.0 if w <= 0 else max(random_unit(), 1e-12) ** (1.0 / w)
            keyed.append((key, -index, route))
        return [
            route for key, _, route in sorted(keyed, key=lambda item: (item[0], item[1]), reverse=True) if key >= 0
        ] + [route for key, _, route in keyed if key < 0]
    raise ValueError(f"unknown routing policy {policy!r}; choose one of {', '.join(POLICIES)}")
