"""``/console/teams``: every team with its limits, its keys, what it spent and holds in flight, and
what is left of its budget and image quota; create a team and change a team's limits (each after
a confirmation page, with the session's CSRF token).

Changes go through ``service.teams.TeamAdmin`` (as ``imagegate teams`` and ``/admin/teams``);
the figures are ``service.spend.SpendReport``'s, the lines ``GET /admin/spend?by=team`` answers with.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import anyio.to_thread
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from imagegate.accounting.ports import DuplicateTeamName
from imagegate.domain.errors import InvalidRequest
from imagegate.domain.limits import Limits
from imagegate.service.limit_changes import Unchanged
from imagegate.service.teams import TeamNotFound, team_view
from imagegate.web.auth import action, form_text, page
from imagegate.web.limits_form import (
    LIMIT_INPUTS,
    PERIOD_CHOICES,
    confirm_fields,
    describe,
    form_values,
    limit_changes,
    problem_with,
    sent_fields,
    spend_lines,
    thresholds_of,
)
from imagegate.web.limits_pages import LimitsPages
from imagegate.web.render import render
from imagegate.web.session import ConsoleSession
from imagegate.web.state import deps


async def _teams_view(request: Request, session: ConsoleSession, *, problem: str | None = None) -> Response:
    console = deps(request)
    teams = await anyio.to_thread.run_sync(console.team_admin.list)
    keys = await anyio.to_thread.run_sync(console.key_admin.list)
    lines = await spend_lines(console, "team")
    active_keys = Counter(key.team.name for key in keys if key.team is not None and key.active)
    return render(
        request,
        "teams.html",
        session,
        active="teams",
        title="Teams",
        teams=[
            {**team_view(team), "active_keys": active_keys.get(team.name, 0), "spend": lines.get(team.name)}
            for team in teams
        ],
        inputs=LIMIT_INPUTS,
        periods=PERIOD_CHOICES,
        values=form_values(Limits(), None),
        problem=problem,
        status=400 if problem is not None else 200,
    )


async def _teams(request: Request, session: ConsoleSession) -> Response:
    return await _teams_view(request, session)


async def _confirm_create(request: Request, session: ConsoleSession) -> Response:
    name = request.query_params.get("name", "").strip()
    values = sent_fields(request.query_params)
    changes, thresholds = limit_changes(values), thresholds_of(values)
    problem = "'name' must not be empty." if name == "" else problem_with(changes, thresholds)
    if problem is not None:
        return await _teams_view(request, session, problem=problem)
    return render(
        request,
        "confirm.html",
        session,
        active="teams",
        title="Confirm",
        question=f"Create team '{name}' with {describe(changes, thresholds)}?",
        confirm_label="Create team",
        danger=False,
        action="/console/teams",
        fields=[("name", name), *confirm_fields(changes, thresholds)],
        cancel="/console/teams",
    )


async def _create(request: Request, session: ConsoleSession, form: FormData) -> Response:
    name = form_text(form, "name") or ""
    values = sent_fields(form)
    thresholds = values.get("alert_thresholds") or None
    try:
        await anyio.to_thread.run_sync(lambda: deps(request).team_admin.create(name, limit_changes(values), thresholds))
    except DuplicateTeamName:
        return await _teams_view(request, session, problem=f"A team named '{name}' already exists.")
    except InvalidRequest as error:
        return await _teams_view(request, session, problem=error.message)
    return RedirectResponse("/console/teams", status_code=303)


def _read_limits(request: Request, name: str) -> tuple[Limits, tuple[int, ...] | None]:
    team = deps(request).team_admin.show(name)
    return team.limits, team.alert_thresholds


def _write_limits(request: Request, name: str, changes: Mapping[str, str], thresholds: str | Unchanged) -> None:
    deps(request).team_admin.update(name, dict(changes), thresholds)


LIMITS = LimitsPages(
    holder="team",
    section="teams",
    scope="They apply to all its keys together, on every replica within seconds.",
    read=_read_limits,
    write=_write_limits,
    not_found=TeamNotFound,
)


teams_page = page(_teams)
confirm_create = page(_confirm_create)
create_team = action(_create)
edit_limits = page(LIMITS.edit)
confirm_limits = page(LIMITS.confirm)
set_limits = action(LIMITS.store)
