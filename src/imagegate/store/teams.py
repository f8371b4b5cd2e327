"""``SqlTeamStore``: the accounting ``TeamStore`` port on SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from imagegate.accounting.ports import DuplicateTeamName, TeamRecord, UnknownTeam
from imagegate.domain.limits import Limits
from imagegate.store.database import Bind, begin, connect
from imagegate.store.governance_tables import teams


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SqlTeamStore:
    """Teams in the ``teams`` table; ``bind`` as for ``SqlKeyStore``."""

    def __init__(self, bind: Bind, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self._bind = bind
        self._clock = clock

    def create_team(
        self, *, name: str, limits: Limits | None = None, alert_thresholds: Sequence[int] | None = None
    ) -> TeamRecord:
        """Store a new team; raises ``DuplicateTeamName`` if the name is taken."""
        values = {
            "name": name,
            "created_at": self._clock(),
            "limits": (limits if limits is not None else Limits()).to_dict(),
            "alert_thresholds": None if alert_thresholds is None else list(alert_thresholds),
        }
        try:
            with begin(self._bind) as conn:
                row = conn.execute(sa.insert(teams).values(**values).returning(*teams.c)).one()
        except IntegrityError as exc:
            if self.team_by_name(name) is not None:
                raise DuplicateTeamName(name) from exc
            raise
        return team_record(row._mapping)

    def team_by_name(self, name: str) -> TeamRecord | None:
        """The team called ``name``, if any."""
        return self._one(teams.c.name == name)

    def team_by_id(self, team_id: int) -> TeamRecord | None:
        """The team with id ``team_id``, if any."""
        return self._one(teams.c.id == team_id)

    def list_teams(self) -> list[TeamRecord]:
        """Every team, oldest first."""
        with connect(self._bind) as conn:
            rows = conn.execute(sa.select(teams).order_by(teams.c.created_at, teams.c.id)).all()
        return [team_record(row._mapping) for row in rows]

    def update_team(
        self, name: str, *, limits: Limits | None = None, alert_thresholds: Sequence[int] | None = None
    ) -> TeamRecord:
        """Replace the given fields (None: unchanged); raises ``UnknownTeam``."""
        values: dict[str, Any] = {}
        if limits is not None:
            values["limits"] = limits.to_dict()
        if alert_thresholds is not None:
            values["alert_thresholds"] = list(alert_thresholds)
        with begin(self._bind) as conn:
            if values:
                conn.execute(sa.update(teams).where(teams.c.name == name).values(**values))
            row = conn.execute(sa.select(teams).where(teams.c.name == name)).one_or_none()
        if row is None:
            raise UnknownTeam(name)
        return team_record(row._mapping)

    def _one(self, condition: sa.ColumnElement[bool]) -> TeamRecord | None:
        with connect(self._bind) as conn:
            row = conn.execute(sa.select(teams).where(condition)).one_or_none()
        return None if row is None else team_record(row._mapping)


def team_record(row: Any) -> TeamRecord:
    """A ``TeamRecord`` from a row of ``teams`` (a mapping with its column names)."""
    thresholds = row["alert_thresholds"]
    return TeamRecord(
        id=row["id"],
        name=row["name"],
        created_at=row["created_at"],
        limits=Limits.from_dict(row["limits"]),
        alert_thresholds=None if thresholds is None else tuple(thresholds),
    )
