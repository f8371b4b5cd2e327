"""The console's URL table (mounted by ``app.py``) and its packaged static assets."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from imagegate.web import (
    auth,
    catalog_page,
    compare_page,
    keys_page,
    overview,
    requests_page,
    routes_page,
    spend,
    teams_page,
)


async def root(request: Request) -> Response:
    """``/``: people who open the gateway in a browser land on the console."""
    return RedirectResponse("/console", status_code=307)


def console_routes() -> list[BaseRoute]:
    """Every console page and form, and ``/console/static``."""
    return [
        Route("/", root, methods=["GET"]),
        Route("/console", auth.console_home, methods=["GET"]),
        Route("/console/sign-in", auth.signin_form, methods=["GET"]),
        Route("/console/sign-in", auth.signin_submit, methods=["POST"]),
        Route("/console/sign-out", auth.sign_out, methods=["POST"]),
        Route("/console/overview", overview.overview, methods=["GET"]),
        Route("/console/spend", spend.spend, methods=["GET"]),
        Route("/console/spend.csv", spend.spend_csv, methods=["GET"]),
        Route("/console/requests", requests_page.requests_page, methods=["GET"]),
        Route("/console/requests/{request_id:path}", requests_page.one_request, methods=["GET"]),
        Route("/console/routes", routes_page.routes_page, methods=["GET"]),
        Route("/console/routes/confirm", routes_page.confirm, methods=["GET"]),
        Route("/console/routes/apply", routes_page.apply, methods=["POST"]),
        Route("/console/keys", keys_page.keys_page, methods=["GET"]),
        Route("/console/keys", keys_page.create_key, methods=["POST"]),
        Route("/console/keys/confirm-create", keys_page.confirm_create, methods=["GET"]),
        Route("/console/keys/edit", keys_page.edit_page, methods=["GET"]),
        Route("/console/keys/confirm-edit", keys_page.confirm_edit, methods=["GET"]),
        Route("/console/keys/edit", keys_page.edit_key, methods=["POST"]),
        Route("/console/keys/confirm-revoke", keys_page.confirm_revoke, methods=["GET"]),
        Route("/console/keys/revoke", keys_page.revoke_key, methods=["POST"]),
        Route("/console/keys/confirm-rotate", keys_page.confirm_rotate, methods=["GET"]),
        Route("/console/keys/rotate", keys_page.rotate_key, methods=["POST"]),
        Route("/console/keys/edit-limits", keys_page.edit_limits, methods=["GET"]),
        Route("/console/keys/confirm-limits", keys_page.confirm_limits, methods=["GET"]),
        Route("/console/keys/limits", keys_page.set_limits, methods=["POST"]),
        Route("/console/teams", teams_page.teams_page, methods=["GET"]),
        Route("/console/teams", teams_page.create_team, methods=["POST"]),
        Route("/console/teams/confirm-create", teams_page.confirm_create, methods=["GET"]),
        Route("/console/teams/edit-limits", teams_page.edit_limits, methods=["GET"]),
        Route("/console/teams/confirm-limits", teams_page.confirm_limits, methods=["GET"]),
        Route("/console/teams/limits", teams_page.set_limits, methods=["POST"]),
        Route("/console/catalog", catalog_page.catalog, methods=["GET"]),
        Route("/console/compare", compare_page.runs_page, methods=["GET"]),
        Route("/console/compare/{run_id}", compare_page.run_page, methods=["GET"]),
        Route("/console/compare/{run_id}/verdict", compare_page.give_verdict, methods=["POST"]),
        Mount("/console/static", StaticFiles(packages=[("imagegate.web", "static")]), name="console-static"),
    ]
