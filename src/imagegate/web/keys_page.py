"""``/console/keys``: every key with its team, role, limits and what is left of its budget and image
quota; create one (its secret shown once, on the answer to the confirmed form, never again),
rotate one (the new secret shown once; the old one kept for a chosen grace), change its limits,
revoke it.

Every change is a GET confirmation page first, then a POST carrying the session's CSRF token, and
goes through ``service.keys.KeyAdmin`` like the CLI and ``/admin/keys``. The remaining figures are
``service.spend.SpendReport``'s, the lines ``GET /admin/spend?by=key`` answers with.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import anyio.to_thread
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from imagegate.accounting.ports import ROLES, DuplicateKeyName
from imagegate.domain.errors import InvalidRequest
from imagegate.domain.limits import Limits
from imagegate.service.keys import CreatedKey, KeyNotFound, KeySettings, key_view
from imagegate.service.limit_changes import UNCHANGED, Unchanged
from imagegate.service.teams import TeamNotFound
from imagegate.web.auth import action, form_text, page, refused
from imagegate.web.limits_form import (
    LIMIT_INPUTS,
    PERIOD_CHOICES,
    describe,
    limit_changes,
    problem_with,
    spend_lines,
)
from imagegate.web.limits_pages import LimitsPages
from imagegate.web.render import render
from imagegate.web.session import ConsoleSession
from imagegate.web.state import deps

# Grace periods offered when rotating: how long the old secret keeps working.
GRACES: tuple[tuple[str, str, timedelta], ...] = (
    ("0", "none: the old secret stops now", timedelta(0)),
    ("1h", "1 hour", timedelta(hours=1)),
    ("24h", "24 hours", timedelta(hours=24)),
    ("7d", "7 days", timedelta(days=7)),
)
_CREATE_FIELDS = (
    "name",
    "team",
    "role",
    "models",
    "expires_at",
    "budget_usd",
    "budget_period",
    "image_quota",
    "quota_period",
)


async def _keys_view(
    request: Request,
    session: ConsoleSession,
    *,
    created: CreatedKey | None = None,
    rotated: CreatedKey | None = None,
    problem: str | None = None,
) -> Response:
    console = deps(request)
    records = await anyio.to_thread.run_sync(console.key_admin.list)
    teams = await anyio.to_thread.run_sync(console.team_admin.list)
    lines = await spend_lines(console, "key")
    fresh = created if created is not None else rotated
    now = datetime.now(UTC)

    def grace_until(until: datetime | None) -> datetime | None:
        # A rotation without grace leaves the old secret valid until "now": nothing to show.
        return until if until is not None and until > now else None

    return render(
        request,
        "keys.html",
        session,
        active="keys",
        title="Keys",
        keys=[
            {
                **key_view(record),
                "spend": lines.get(record.name),
                "grace_until": grace_until(record.previous_valid_until),
            }
            for record in records
        ],
        old_secret_until=None if rotated is None else grace_until(rotated.record.previous_valid_until),
        teams=[team.name for team in teams],
        roles=ROLES,
        inputs=LIMIT_INPUTS,
        periods=PERIOD_CHOICES,
        created=created,
        rotated=rotated,
        problem=problem,
        status=400 if problem is not None else 201 if fresh is not None else 200,
    )


async def _keys(request: Request, session: ConsoleSession) -> Response:
    return await _keys_view(request, session)


def _expiry(raw: str | None) -> datetime | None:
    if raw is None or raw == "":
        return None
    parsed = datetime.fromisoformat(raw)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _models(raw: str | None) -> list[str] | None:
    return [m.strip() for m in (raw or "").split(",") if m.strip() != ""] or None


def _settings(values: dict[str, str]) -> KeySettings:
    """The new key's settings from the create form (``InvalidRequest`` naming a bad field)."""
    try:
        expires_at = _expiry(values.get("expires_at"))
    except ValueError:
        raise InvalidRequest("'expires_at' must be a date like 2027-01-31.", param="expires_at") from None
    team = values.get("team", "")
    return KeySettings(
        team=None if team == "" else team,
        role=values.get("role") or "client",
        models=_models(values.get("models")),
        expires_at=expires_at,
        limits={name: value for name, value in limit_changes(values).items() if value != ""},
    )


def _create_values(source: FormData | dict[str, str]) -> dict[str, str]:
    """The create form's fields that were sent, stripped."""
    found = {name: source.get(name) for name in _CREATE_FIELDS}
    return {name: value.strip() for name, value in found.items() if isinstance(value, str)}


async def _team_exists(request: Request, name: str) -> bool:
    try:
        await anyio.to_thread.run_sync(deps(request).team_admin.show, name)
    except TeamNotFound:
        return False
    return True


async def _confirm_create(request: Request, session: ConsoleSession) -> Response:
    values = _create_values(dict(request.query_params))
    name = values.get("name", "")
    if name == "":
        return await _keys_view(request, session, problem="'name' must not be empty.")
    problem = problem_with(limit_changes({k: v for k, v in values.items() if v != ""}), UNCHANGED)
    if values.get("role", "client") not in ROLES:
        problem = f"'role' must be one of {', '.join(ROLES)}."
    if values.get("team") and not await _team_exists(request, values["team"]):
        problem = f"No team named '{values['team']}'."
    if problem is not None:
        return await _keys_view(request, session, problem=problem)
    team = values.get("team") or "no team"
    models = ", ".join(_models(values.get("models")) or ["all models"])
    limits = describe({k: v for k, v in limit_changes(values).items() if v != ""}, UNCHANGED)
    return render(
        request,
        "confirm.html",
        session,
        active="keys",
        title="Confirm",
        question=f"Create key '{name}' ({team}, role {values.get('role') or 'client'}, {models}; {limits})? "
        "Its secret is shown once, on the next page.",
        confirm_label="Create key",
        danger=False,
        action="/console/keys",
        fields=list(values.items()),
        cancel="/console/keys",
    )


async def _create(request: Request, session: ConsoleSession, form: FormData) -> Response:
    values = _create_values(form)
    name = values.get("name", "")
    if name == "":
        return await _keys_view(request, session, problem="'name' must not be empty.")
    admin = deps(request).key_admin
    try:
        created = await anyio.to_thread.run_sync(admin.create, name, _settings(values))
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


async def _confirm_rotate(request: Request, session: ConsoleSession) -> Response:
    name = request.query_params.get("name", "")
    return render(
        request,
        "confirm.html",
        session,
        active="keys",
        title="Confirm",
        question=f"Rotate key '{name}'? A new secret is made and shown once, on the next page; "
        "the old one keeps working for the grace period you choose (on every replica within seconds).",
        confirm_label="Rotate key",
        danger=True,
        action="/console/keys/rotate",
        fields=[("name", name)],
        choice=("grace", "Old secret keeps working for", [(value, label) for value, label, _ in GRACES]),
        cancel="/console/keys",
    )


async def _rotate(request: Request, session: ConsoleSession, form: FormData) -> Response:
    name = form_text(form, "name") or ""
    grace = next((span for value, _, span in GRACES if value == form_text(form, "grace")), None)
    if grace is None:
        return refused(request, session, "'grace' must be one of " + ", ".join(v for v, _, _ in GRACES) + ".", 400)
    admin = deps(request).key_admin
    try:
        rotated = await anyio.to_thread.run_sync(admin.rotate, name, grace)
    except KeyNotFound:
        return refused(request, session, f"No active key named '{name}'.", 404)
    return await _keys_view(request, session, rotated=rotated)


def _read_limits(request: Request, name: str) -> tuple[Limits, tuple[int, ...] | None]:
    record = deps(request).key_admin.show(name)
    return record.limits, record.alert_thresholds


def _write_limits(request: Request, name: str, changes: Mapping[str, str], thresholds: str | Unchanged) -> None:
    deps(request).key_admin.update(name, KeySettings(limits=dict(changes), alert_thresholds=thresholds))


LIMITS = LimitsPages(
    holder="key",
    section="keys",
    scope="Every replica applies them within seconds; a team's own limits still apply on top.",
    read=_read_limits,
    write=_write_limits,
    not_found=KeyNotFound,
)


keys_page = page(_keys)
confirm_create = page(_confirm_create)
create_key = action(_create)
confirm_revoke = page(_confirm_revoke)
revoke_key = action(_revoke)
confirm_rotate = page(_confirm_rotate)
rotate_key = action(_rotate)
edit_limits = page(LIMITS.edit)
confirm_limits = page(LIMITS.confirm)
set_limits = action(LIMITS.store)
