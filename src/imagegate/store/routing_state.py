"""``SqlRoutingState``: the routing ``RoutingStateStore`` port on SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from imagegate.routing.control_store import Action, RouteCheck, RoutingChange
from imagegate.routing.controls import ControlsSnapshot, RouteControl
from imagegate.routing.policy import Policy
from imagegate.store.database import SQLITE_BEGIN_IMMEDIATE, Bind, begin, connect
from imagegate.store.routing_tables import alias_policies, route_controls, route_status, routing_changes

# pg_advisory_xact_lock key serialising routing changes across replicas ("igroute" in ASCII).
PG_ROUTING_LOCK_ID = 0x6967726F757465
# The channel a committed change is announced on (PostgreSQL NOTIFY; store/routing_notify.py listens).
CONTROLS_CHANNEL = "imagegate_routing_controls"
_ROUTE_FIELDS = ("enabled", "weight")


class SqlRoutingState:
    """Overrides, change log and route checks in the database every replica shares.

    ``bind`` is an ``Engine`` (each call is its own transaction) or a ``Connection`` (each call
    a SAVEPOINT in the caller's transaction, for tests).
    """

    def __init__(self, bind: Bind) -> None:
        self._bind = bind

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        # One change at a time, everywhere: the read of "before", the write and the log entry are
        # one unit (no lost update between two admins), and change ids commit in id order, which
        # is what lets replicas use the highest id as the snapshot version.
        bind = self._bind
        if isinstance(bind, Engine) and bind.dialect.name == "sqlite":
            bind = bind.execution_options(**{SQLITE_BEGIN_IMMEDIATE: True})
        with begin(bind) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(PG_ROUTING_LOCK_ID)))
                # Delivered to every listening replica at commit, never if the change rolls back.
                conn.execute(sa.select(sa.func.pg_notify(CONTROLS_CHANNEL, "")))
            yield conn

    def version(self) -> int:
        """The id of the newest change (0 when there is none)."""
        with connect(self._bind) as conn:
            return _version(conn)

    def snapshot(self) -> ControlsSnapshot:
        """Every override in force, with the version it reflects (at least)."""
        with connect(self._bind) as conn:
            # The version is read first: the overrides read after it are at least that new, so a
            # replica may reload once too often but never keeps a stale snapshot.
            version = _version(conn)
            routes = {
                row.route: RouteControl(enabled=row.enabled, weight=row.weight)
                for row in conn.execute(sa.select(route_controls))
            }
            policies = {row.alias: row.policy for row in conn.execute(sa.select(alias_policies))}
        return ControlsSnapshot(version=version, routes=routes, policies=policies)

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
        """Set some of a route's override fields and log it, atomically."""
        unknown = set(values) - set(_ROUTE_FIELDS)
        if unknown:
            raise ValueError(f"unknown route override fields: {sorted(unknown)}")
        with self._writing() as conn:
            row = conn.execute(sa.select(route_controls).where(route_controls.c.route == route)).one_or_none()
            before = {name: None if row is None else getattr(row, name) for name in _ROUTE_FIELDS}
            after = {**before, **values}
            conn.execute(sa.delete(route_controls).where(route_controls.c.route == route))
            if any(value is not None for value in after.values()):
                conn.execute(sa.insert(route_controls).values(route=route, updated_at=at, updated_by=actor, **after))
            return _log(
                conn,
                at=at,
                actor=actor,
                alias=alias,
                route=route,
                action=action,
                before=before,
                after=after,
                reverts=reverts,
            )

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
        with self._writing() as conn:
            current = conn.execute(
                sa.select(alias_policies.c.policy).where(alias_policies.c.alias == alias)
            ).scalar_one_or_none()
            conn.execute(sa.delete(alias_policies).where(alias_policies.c.alias == alias))
            if policy is not None:
                conn.execute(
                    sa.insert(alias_policies).values(alias=alias, policy=policy, updated_at=at, updated_by=actor)
                )
            return _log(
                conn,
                at=at,
                actor=actor,
                alias=alias,
                route=None,
                action=action,
                before={"policy": current},
                after={"policy": policy},
                reverts=reverts,
            )

    def changes(self, *, alias: str | None = None, limit: int | None = 100) -> list[RoutingChange]:
        """Log entries, newest first (one alias's, or all); ``limit`` None means all."""
        stmt = sa.select(routing_changes).order_by(routing_changes.c.id.desc())
        if alias is not None:
            stmt = stmt.where(routing_changes.c.alias == alias)
        if limit is not None:
            stmt = stmt.limit(limit)
        with connect(self._bind) as conn:
            return [_change(row._mapping) for row in conn.execute(stmt)]

    def record_check(self, check: RouteCheck) -> None:
        """Store a route's latest check, replacing the previous one."""
        values = {
            "status": check.status,
            "last_checked_at": check.checked_at,
            "latency_ms": check.latency_ms,
            "error_code": check.error_code,
            "provider_request_id": check.provider_request_id,
            "detail": check.detail,
            "usage": dict(check.usage),
            "cost_micros": check.cost_micros,
        }
        with begin(self._bind) as conn:
            # Delete + insert rather than a dialect-specific upsert; two replicas checking the
            # same route at once may both write, and either verdict is a fine "latest".
            conn.execute(sa.delete(route_status).where(route_status.c.route == check.route))
            conn.execute(sa.insert(route_status).values(route=check.route, **values))

    def checks(self) -> dict[str, RouteCheck]:
        """The latest check of every route that has one."""
        with connect(self._bind) as conn:
            rows = conn.execute(sa.select(route_status)).all()
        return {
            row.route: RouteCheck(
                route=row.route,
                status=row.status,
                checked_at=row.last_checked_at,
                latency_ms=row.latency_ms,
                error_code=row.error_code,
                provider_request_id=row.provider_request_id,
                detail=row.detail,
                usage=row.usage or {},
                cost_micros=row.cost_micros,
            )
            for row in rows
        }


def _version(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(routing_changes.c.id), 0))).scalar_one())


def _log(conn: Connection, **values: Any) -> RoutingChange:
    row = conn.execute(sa.insert(routing_changes).values(**values).returning(*routing_changes.c)).one()
    return _change(row._mapping)


def _change(row: Any) -> RoutingChange:
    return RoutingChange(
        id=row["id"],
        at=row["at"],
        actor=row["actor"],
        alias=row["alias"],
        route=row["route"],
        action=row["action"],
        before=dict(row["before"]),
        after=dict(row["after"]),
        reverts=row["reverts"],
    )
