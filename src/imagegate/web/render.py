"""Rendering console pages: one Jinja2 environment over the packaged templates, with filters that
format integers (micro-dollars, basis points, milliseconds) without ever going through float."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from imagegate.domain.money import usd_string
from imagegate.web.session import ConsoleSession
from imagegate.web.state import deps

NAV = (
    ("overview", "Overview", "/console/overview"),
    ("spend", "Spend", "/console/spend"),
    ("requests", "Requests", "/console/requests"),
    ("routes", "Routes", "/console/routes"),
    ("keys", "Keys", "/console/keys"),
    ("teams", "Teams", "/console/teams"),
    ("compare", "Compare", "/console/compare"),
    ("catalog", "Catalog", "/console/catalog"),
)


def usd(micros: int | None) -> str:
    """``$0.053280`` (six places: the ledger's own precision), or an em dash for no figure."""
    return "—" if micros is None else "$" + usd_string(micros)


def percent(basis_points: int | None) -> str:
    """``97.50%`` from basis points, or an em dash."""
    if basis_points is None:
        return "—"
    return f"{basis_points // 100}.{basis_points % 100:02d}%"


def millis(value: float | None) -> str:
    """``1234 ms``, or an em dash."""
    return "—" if value is None else f"{round(value)} ms"


def when(value: datetime | str | None) -> str:
    """A UTC time to the second, or an em dash."""
    if value is None:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

ENV = Environment(loader=PackageLoader("imagegate.web", "templates"), autoescape=select_autoescape(default=True))
ENV.filters.update(usd=usd, percent=percent, millis=millis, when=when)


def render(
    request: Request,
    template: str,
    session: ConsoleSession | None,
    *,
    active: str = "",
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A full console page; ``csrf`` is the session's form token (empty when signed out)."""
    csrf = "" if session is None else deps(request).sessions.csrf_token(session)
    body = ENV.get_template(template).render(
        session=session, csrf=csrf, nav=NAV, active=active, request=request, **context
    )
    # Pages show spend and keys: never cache them, never frame them, run only the console's own scripts.
    headers = {
        "cache-control": "no-store",
        "x-frame-options": "DENY",
        "referrer-policy": "same-origin",
        "x-content-type-options": "nosniff",
        "content-security-policy": CSP,
    }
    return HTMLResponse(body, status_code=status, headers=headers)
