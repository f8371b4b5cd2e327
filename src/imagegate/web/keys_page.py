"""``/console/keys``: list keys, create one (its secret shown once, on the answer to the form, never
again), revoke one after confirmation.

Built on ``service.keys.KeyAdmin`` as it is today (name, model allow-list, expiry); teams, limits
and rotation join the form and the table as ``KeyAdmin`` gains them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import anyio.to_thread
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from imagegate.accounting.ports import DuplicateKeyName
from imagegate.domain.errors import InvalidRequest
from imagegate.service.keys import CreatedKey, KeyNotFound, KeySettings, key_view
from imagegate.web.auth import action, form_text, page, refused
from imagegate.web.render import render
from imagegate.web.session import ConsoleSession
from imagegate.web.state import deps


async def _keys_view(
    request: Request, session: ConsoleSession, *, created: CreatedKey | None = None, problem: str | None = None
) -> Response:
    admin = deps(request).key_admin
    records = await anyio.to_thread.run_sync(admin.list)
    return render(
        request,
        "keys.html",
        session,
        active="keys",
        title="Keys",
        keys=[key_view(record) for record in records],
        created=created,
        problem=problem,
        status=400 if problem is not None else 201 if created is not None else 200,
    )


async def _keys(request: Request, session: ConsoleSession) -> Response:
    return await _keys_view(request, session)


def _expiry(raw: str | None) -> datetime | None:
    if raw is None or raw == "":
        return None
    parsed = datetime.fromisoformat(raw)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


async def _create(request: Request, session: ConsoleSession, form: FormData) -> Response:
    name = form_text(form, "name") or ""
    if name == "":
        return await _keys_view(request, session, problem="'name' must not be empty.")
    models_text = form_text(form, "models") or ""
    models = [m.strip() for m in models_text.split(",") if m.strip() != ""] or None
    try:
        expires_at = _expiry(form_text(form, "expires_at"))
    except ValueError:
        return await _keys_view(request, session, problem="'expires_at' must be a date like 2027-01-31.")
    admin = deps(request).key_admin
    settings = KeySettings(models=models, expires_at=expires_at)
    try:
        created = await anyio.to_thread.run_sync(admin.create, name, settings)
    except DuplicateKeyName:
        return await _keys_view(request, session, problem=f"A key named '{name}' already exists.")
    except InvalidRequest as error:
        return await _keys_view(request, session, problem=error.message)
    return await _keys_view(request, session, created=created)


async def _confirm_revoke(request: Request, session: ConsoleSession) -> Response:
    name = request.query_params.get("name", "")
    return render(
        request,
        "confirm.html",
        session,
        active="keys",
        title="Confirm",
        question=f"Revoke key '{name}'? Requests with it fail within seconds, on every replica. This cannot be undone.",
        confirm_label="Revoke key",
        danger=True,
        action="/console/keys/revoke",
        fields=[("name", name)],
        cancel="/console/keys",
    )


async def _revoke(request: Request, session: ConsoleSession, form: FormData) -> Response:
    name = form_text(form, "name") or ""
    admin = deps(request).key_admin
    try:
        await anyio.to_thread.run_sync(admin.revoke, name)
    except KeyNotFound:
        return refused(request, session, f"No active key named '{name}'.", 404)
    return RedirectResponse("/console/keys", status_code=303)


keys_page = page(_keys)
create_key = action(_create)
confirm_revoke = page(_confirm_revoke)
revoke_key = action(_revoke)
