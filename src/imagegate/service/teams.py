"""Team administration shared by the CLI and the admin API: create, list, show, update.

A team owns keys; its limits apply to all of its keys together (and each key's own limits on top:
both must pass). Alert thresholds are percents of the team's budget and image quota at which a
``usage.threshold_crossed`` event fires (service.usage_alerts).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from imagegate.accounting.ports import TeamRecord, TeamStore, UnknownTeam
from imagegate.domain.errors import InvalidRequest
from imagegate.domain.limits import Limits
from imagegate.service.limit_changes import (
    UNCHANGED,
    Unchanged,
    apply_limit_changes,
    limits_view,
    parse_thresholds,
    thresholds_change,
    thresholds_view,
)

log = logging.getLogger("imagegate.governance")


class TeamNotFound(InvalidRequest):
    """No team has that name (404 on the admin API, a named error in the CLI)."""

    code = "team_not_found"


class TeamAdmin:
    """Operations on teams; raises ``DuplicateTeamName``, ``TeamNotFound`` or ``InvalidLimit``."""

    def __init__(self, store: TeamStore) -> None:
        self._store = store

    def create(
        self, name: str, limits: Mapping[str, Any] | None = None, alert_thresholds: Sequence[Any] | str | None = None
    ) -> TeamRecord:
        """Store a new team with the given limits (operator names, see ``service.limit_changes``)."""
        if name.strip() == "":
            raise InvalidRequest("a team needs a name", param="name")
        team = self._store.create_team(
            name=name,
            limits=apply_limit_changes(Limits(), limits or {}),
            alert_thresholds=parse_thresholds(alert_thresholds),
        )
        log.info("team created: %s %s", name, limits_view(team.limits))
        return team

    def list(self) -> list[TeamRecord]:
        """Every team, oldest first."""
        return self._store.list_teams()

    def show(self, name: str) -> TeamRecord:
        """The named team."""
        team = self._store.team_by_name(name)
        if team is None:
            raise TeamNotFound(f"no team named '{name}'", param="team")
        return team

    def update(
        self,
        name: str,
        limits: Mapping[str, Any] | None = None,
        alert_thresholds: Sequence[Any] | str | Unchanged | None = UNCHANGED,
    ) -> TeamRecord:
        """Change the given limits (others stay) and, unless ``UNCHANGED``, the thresholds (None clears)."""
        current = self.show(name)
        try:
            team = self._store.update_team(
                name,
                limits=apply_limit_changes(current.limits, limits or {}),
                alert_thresholds=thresholds_change(alert_thresholds),
            )
        except UnknownTeam:
            raise TeamNotFound(f"no team named '{name}'", param="team") from None
        log.info("team updated: %s %s alerts at %s", name, limits_view(team.limits), team.alert_thresholds)
        return team


def team_view(team: TeamRecord) -> dict[str, Any]:
    """The public view of a team: what the CLI and the admin API show."""
    return {
        "name": team.name,
        "created_at": team.created_at.isoformat(),
        "limits": limits_view(team.limits),
        "alert_thresholds": thresholds_view(team.alert_thresholds),
    }
