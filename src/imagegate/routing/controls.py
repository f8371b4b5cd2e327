"""Live routing controls: per-route enable/weight and per-alias policy, as one immutable snapshot.

Operators change them through the admin API or CLI; the change is stored (with a log entry) and
every replica swaps in a fresh snapshot when it next refreshes, so a change takes effect
everywhere without a restart. The attempt loop only ever reads a snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from imagegate.routing.policy import Policy


@dataclass(frozen=True, slots=True)
class RouteControl:
    """An operator's override for one route (``None``: keep the configured value)."""

    enabled: bool | None = None
    weight: float | None = None


@dataclass(frozen=True, slots=True)
class ControlsSnapshot:
    """All overrides in force; ``version`` increases with every stored change."""

    version: int = 0
    routes: Mapping[str, RouteControl] = field(default_factory=dict)
    policies: Mapping[str, Policy] = field(default_factory=dict)

    def enabled(self, route: str, configured: bool = True) -> bool:
        """Whether the route may be used."""
        control = self.routes.get(route)
        return configured if control is None or control.enabled is None else control.enabled

    def weight(self, route: str, configured: float) -> float:
        """The route's weight for the ``weighted`` policy."""
        control = self.routes.get(route)
        return configured if control is None or control.weight is None else control.weight

    def policy(self, alias: str, configured: Policy) -> Policy:
        """The alias's routing policy."""
        return self.policies.get(alias, configured)


class ControlsHolder:
    """The current snapshot; replaced atomically (a single reference swap) by the refresher."""

    def __init__(self, snapshot: ControlsSnapshot | None = None) -> None:
        self.current = snapshot or ControlsSnapshot()
