"""``/console/routes``: every route's status, last check, latency, error rate and circuit, with
disable / enable / weight / rollback behind a confirmation page, and the change log.

Changes go through ``RoutingAdmin`` (the admin API's and the CLI's path), so they are stored, logged
with the operator's name, and reach every replica within its refresh interval; this replica
reloads at once.
"""

from __future__ import annotations

import math
from typing import Any

import anyio.to_thread
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from imagegate.domain.errors import ClientError
from imagegate.service.route_board import route_board
from imagegate.service.route_control import RoutingAdmin, change_view, refresh_once
from imagegate.web.auth import action, form_text, page, refused
from imagegate.web.render import render
from imagegate.web.session import ConsoleSession
from imagegate.web.state import deps

# action -> (question, button label, dangerous)
_ACTIONS = {
    "disable": ("Stop sending traffic to route {route}? Every replica stops within seconds.", "Disable route", True),
    "enable": ("Send traffic to route {route} again?", "Enable route", False),
    "weight": ("Set the weight of route {route} to {weight}?", "Set weight", False),
    "rollback": ("Undo the most recent routing change of model {alias}?", "Roll back", True),
}


def _admin(request: Request) -> RoutingAdmin | None:
    return deps(request).routing


async def _routes(request: Request, session: ConsoleSession) -> Response:
    console = deps(request)
    admin = console.routing
    aliases: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    if admin is not None:
        aliases = await route_board(admin, console.health, console.breakers)
        changes = [change_view(c) for c in await anyio.to_thread.run_sync(lambda: admin.changes(limit=50))]
    return render(request, "routes.html", session, active="routes", title="Routes", aliases=aliases, changes=changes)


def _weight(raw: str | None) -> float | None:
    try:
        value = float(raw or "")
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


async def _confirm(request: Request, session: ConsoleSession) -> Response:
    query = request.query_params
    kind = query.get("action", "")
    if kind not in _ACTIONS:
        return refused(request, session, f"Unknown action '{kind}'.", 400)
    fields = {name: query.get(name, "") for name in ("route", "alias", "weight") if query.get(name)}
    if kind == "weight" and _weight(fields.get("weight")) is None:
        return refused(request, session, "'weight' must be a number >= 0.", 400)
    question, label, danger = _ACTIONS[kind]
    return render(
        request,
        "confirm.html",
        session,
        active="routes",
        title="Confirm",
        question=question.format(route=fields.get("route"), alias=fields.get("alias"), weight=fields.get("weight")),
        confirm_label=label,
        danger=danger,
        action="/console/routes/apply",
        fields=[("action", kind), *fields.items()],
        cancel="/console/routes",
    )


async def _apply(request: Request, session: ConsoleSession, form: FormData) -> Response:
    admin = _admin(request)
    kind = form_text(form, "action") or ""
    if admin is None or kind not in _ACTIONS:
        return refused(request, session, "Nothing to change.", 400)
    actor = f"console:{session.who}"
    route = form_text(form, "route") or ""
    weight = _weight(form_text(form, "weight"))
    alias = form_text(form, "alias") or ""
    try:
        if kind == "disable":
            await anyio.to_thread.run_sync(admin.disable, route, actor)
        elif kind == "enable":
            await anyio.to_thread.run_sync(admin.enable, route, actor)
        elif kind == "weight" and weight is not None:
            await anyio.to_thread.run_sync(admin.reweight, route, weight, actor)
        elif kind == "rollback":
            await anyio.to_thread.run_sync(admin.rollback, alias, actor)
        else:
            return refused(request, session, "'weight' must be a number >= 0.", 400)
    except ClientError as error:
        return refused(request, session, str(error), 400)
    controls = deps(request).controls
    if controls is not None:
        await refresh_once(admin, controls)  # this replica at once; the others within their refresh
    return RedirectResponse("/console/routes", status_code=303)


routes_page = page(_routes)
confirm = page(_confirm)
apply = action(_apply)
