"""The persistence contract for live routing state: operator overrides, their log, route checks.

``store/routing_state.py`` implements it over the database, so every replica reads the same
overrides (``service/route_control.py`` turns them into the ``ControlsSnapshot`` the attempt
loop reads). Synchronous like accounting's ports: callers on the event loop use a thread.

Writes are serialised (one change at a time across every replica), which is what makes the
highest change id a safe snapshot version: a change with a lower id can never commit after a
reader has seen a higher one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from imagegate.routing.controls import ControlsSnapshot
from imagegate.routing.health import RouteStatus
from imagegate.routing.policy import Policy

Action = Literal["disable", "enable", "reweight", "policy", "rollback"]
ACTIONS: tuple[Action, ...] = ("disable", "enable", "reweight", "policy", "rollback")


@dataclass(frozen=True, slots=True)
class RoutingChange:
    """One entry of the append-only change log.

    ``before``/``after`` are the override row as it was and as it became: ``{"enabled", "weight"}``
    for a route change (``route`` set), ``{"policy"}`` for an alias change (``route`` None); a
    ``None`` value means "no override, the config file's value applies". A rollback names the
    change it undid in ``reverts``.
    """

    id: int
    at: datetime
    actor: str
    alias: str
    route: str | None
    action: Action
    before: Mapping[str, Any]
    after: Mapping[str, Any]
    reverts: int | None = None


@dataclass(frozen=True, slots=True)
class RouteCheck:
    """The latest verdict on a route from a smoke test: what was seen, when, and what it cost."""

    route: str
    status: RouteStatus
    checked_at: datetime
    latency_ms: int | None = None
    error_code: str | None = None
    provider_request_id: str | None = None
    detail: str | None = None
    usage: Mapping[str, Any] = field(default_factory=dict)
    cost_micros: int | None = None


class RoutingStateStore(Protocol):
    """Overrides, the change log and route checks, shared by every replica."""

    def version(self) -> int:
        """The id of the newest change (0 when there is none); cheap, polled by every replica."""
        ...

    def snapshot(self) -> ControlsSnapshot:
        """Every override in force, with the version it reflects (at least)."""
        ...

    def change_route(
        self,
        *,
        alias: str,
        route: str,
        values: Mapping[str, Any],
        action: Action,
        actor: str,
        at: datetime,
        reverts: int | None = None,
    ) -> RoutingChange:
        """Set some of a route's override fields (``enabled``, ``weight``) and log it, atomically."""
        ...

    def change_policy(
        self,
        *,
        alias: str,
        policy: Policy | None,
        action: Action,
        actor: str,
        at: datetime,
        reverts: int | None = None,
    ) -> RoutingChange:
        """Set (or with None, clear) an alias's policy override and log it, atomically."""
        ...

    def changes(self, *, alias: str | None = None, limit: int | None = 100) -> list[RoutingChange]:
        """Log entries, newest first (one alias's, or all); ``limit`` None means all."""
        ...

    def record_check(self, check: RouteCheck) -> None:
        """Store a route's latest check, replacing the previous one."""
        ...

    def checks(self) -> dict[str, RouteCheck]:
        """The latest check of every route that has one, by route name."""
        ...


class ChangeFeed(Protocol):
    """Tells a replica that the stored routing controls may have changed (a push, not a poll).

    ``store/routing_notify.py`` implements it with PostgreSQL ``LISTEN``/``NOTIFY``. The refresher
    still reads the version after every wake-up, so a spurious wake-up costs one cheap read and a
    missed one is caught by its slow fallback poll.
    """

    async def wait(self, timeout_s: float) -> None:
        """Return once a change was announced, or after ``timeout_s`` (also when the feed is down)."""
        ...

    async def close(self) -> None:
        """Stop listening and release the connection."""
        ...
