"""``/console/keys``: every key with its team, role, limits and what is left of its budget and image
quota; create one (its secret shown once, on the answer to the confirmed form, never again),
edit one (its team, role and allowed models), rotate one (the new secret shown once; the old one
kept for a chosen grace), change its limits, revoke it.

Every change is a GET confirmation page first, then a POST carrying the session's CSRF token, and
goes through ``service.keys.KeyAdmin`` like the CLI and ``/admin/keys``: the confirmation asks
``KeyAdmin.check`` (the checks ``create`` and ``update`` make), so an unknown team or model or a
bad role is named before anything is stored. The remaining figures are
``service.spend.SpendReport``'s, the lines ``GET /admin/spend?by=key`` answers with.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import anyio.to_thread
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from imagegate.accounting.ports import ROLES, ApiKeyRecord, DuplicateKeyName
from imagegate.domain.errors import InvalidRequest
from imagegate.domain.limits import Limits
from imagegate.service.keys import CreatedKey, KeyNotFound, KeySettings, key_view
from imagegate.service.limit_changes import UNCHANGED, Unchanged
from imagegate.web.auth import action, form_text, page, refused
from imagegate.web.limits_form import (
    LIMIT_INPUTS,
    PERIOD_CHOICES,
    describe,
    limit_changes,
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
# What the Edit action changes (limits have their own pages).
_EDIT_FIELDS = ("team", "role", "models")


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


def _settings(values: Mapping[str, str]) -> KeySettings:
    """The settings a create or edit form sent (``InvalidRequest`` naming a bad field): an empty team
    is no team, empty models all models; a field not sent stays ``UNCHANGED`` (on creation: the default)."""
    try:
        expires_at = _expiry(values["expires_at"]) if "expires_at" in values else UNCHANGED
    except ValueError:
        raise InvalidRequest("'expires_at' must be a date like 2027-01-31.", param="expires_at") from None
    team, role, models = (values.get(name) for name in _EDIT_FIELDS)
    return KeySettings(
        team=UNCHANGED if team is None else team or None,
        role=UNCHANGED if role is None else role,
        models=UNCHANGED if models is None else _models(models),
        expires_at=expires_at,
        limits={name: value for name, value in limit_changes(values).items() if value != ""},
    )


def _sent(source: Mapping[str, object], names: tuple[str, ...]) -> dict[str, str]:
    """The fields of ``names`` a form or query carried, stripped."""
    found = {name: source.get(name) for name in names}
    return {name: value.strip() for name, value in found.items() if isinstance(value, str)}


async def _problem(request: Request, values: Mapping[str, str]) -> str | None:
    """What ``KeyAdmin`` would refuse in the sent fields (an unknown team or model, a bad role, limit
    or date), or None."""
    try:
        settings = _settings(values)
        await anyio.to_thread.run_sync(deps(request).key_admin.check, settings)
    except InvalidRequest as error:
        return error.message
    return None


def _confirm(
    request: Request,
    session: ConsoleSession,
    question: str,
    label: str,
    action: str,
    fields: list[tuple[str, str]],
    *,
    danger: bool = False,
    choice: tuple[str, str, list[tuple[str, str]]] | None = None,
) -> Response:
    """A key action's confirmation page: ``question``, and a button labelled ``label`` posting
    ``fields`` (and the session's CSRF token) to ``action``; Cancel leads back to the list."""
    return render(
        request,
        "confirm.html",
        session,
        active="keys",
        title="Confirm",
        question=question,
        confirm_label=label,
        danger=danger,
        action=action,
        fields=fields,
        choice=choice,
        cancel="/console/keys",
    )


async def _confirm_create(request: Request, session: ConsoleSession) -> Response:
    values = _sent(request.query_params, _CREATE_FIELDS)
    name = values.get("name", "")
    if name == "":
        return await _keys_view(request, session, problem="'name' must not be empty.")
    problem = await _problem(request, values)
    if problem is not None:
        return await _keys_view(request, session, problem=problem)
    team = values.get("team") or "no team"
    models = ", ".join(_models(values.get("models")) or ["all models"])
    limits = describe({k: v for k, v in limit_changes(values).items() if v != ""}, UNCHANGED)
    return _confirm(
        request,
        session,
        f"Create key '{name}' ({team}, role {values.get('role') or 'client'}, {models}; {limits})? "
        "Its secret is shown once, on the next page.",
        "Create key",
        "/console/keys",
        list(values.items()),
    )


async def _create(request: Request, session: ConsoleSession, form: FormData) -> Response:
    values = _sent(form, _CREATE_FIELDS)
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


def _edit_values(record: ApiKeyRecord) -> dict[str, str]:
    """A key's team, role and models as the edit form shows them."""
    models = "" if record.models is None else ", ".join(record.models)
    return {"team": "" if record.team is None else record.team.name, "role": record.role, "models": models}


def _shown(field: str, value: str) -> str:
    """An edit field's value in words: an empty team is "no team", empty models "all models"."""
    if field == "models":
        return ", ".join(_models(value) or ["all models"])
    if field == "team" and value == "":
        return "no team"
    return value


def _edit_summary(before: Mapping[str, str], sent: Mapping[str, str]) -> str:
    """``team ops (was no team), role client, models all models`` for the confirmation page."""
    parts = []
    for field in _EDIT_FIELDS:
        old, new = _shown(field, before[field]), _shown(field, sent.get(field, before[field]))
        parts.append(f"{field} {new}" + ("" if new == old else f" (was {old})"))
    return ", ".join(parts)


async def _key_or_none(request: Request, name: str) -> ApiKeyRecord | None:
    try:
        return await anyio.to_thread.run_sync(deps(request).key_admin.show, name)
    except KeyNotFound:
        return None


async def _edit_form(
    request: Request, session: ConsoleSession, name: str, values: Mapping[str, str], problem: str | None = None
) -> Response:
    console = deps(request)
    teams = await anyio.to_thread.run_sync(console.team_admin.list)
    return render(
        request,
        "key_edit.html",
        session,
        active="keys",
        title=f"Edit key {name}",
        name=name,
        values=values,
        teams=[team.name for team in teams],
        roles=ROLES,
        served=console.key_admin.served_models(),
        problem=problem,
        status=200 if problem is None else 400,
    )


async def _edit_page(request: Request, session: ConsoleSession) -> Response:
    name = request.query_params.get("name", "")
    record = await _key_or_none(request, name)
    if record is None:
        return refused(request, session, f"No key named '{name}'.", 404)
    return await _edit_form(request, session, name, _edit_values(record))


async def _confirm_edit(request: Request, session: ConsoleSession) -> Response:
    name = request.query_params.get("name", "")
    record = await _key_or_none(request, name)
    if record is None:
        return refused(request, session, f"No key named '{name}'.", 404)
    current, values = _edit_values(record), _sent(request.query_params, _EDIT_FIELDS)
    problem = await _problem(request, values)
    if problem is not None:
        return await _edit_form(request, session, name, {**current, **values}, problem)
    moved = values.get("team", current["team"]) != current["team"]
    return _confirm(
        request,
        session,
        f"Set key '{name}' to {_edit_summary(current, values)}? Its secret and limits stay as they are; "
        + ("its past spend stays with the team it was made in; " if moved else "")
        + "every replica applies the change within seconds.",
        "Save key",
        "/console/keys/edit",
        [("name", name), *values.items()],
    )


async def _edit(request: Request, session: ConsoleSession, form: FormData) -> Response:
    name = form_text(form, "name") or ""
    admin = deps(request).key_admin
    try:
        settings = _settings(_sent(form, _EDIT_FIELDS))
        await anyio.to_thread.run_sync(admin.update, name, settings)
    except KeyNotFound:
        return refused(request, session, f"No key named '{name}'.", 404)
    except InvalidRequest as error:
        return refused(request, session, error.message, 400)
    return RedirectResponse("/console/keys", status_code=303)


async def _confirm_revoke(request: Request, session: ConsoleSession) -> Response:
    name = request.query_params.get("name", "")
    return _confirm(
        request,
        session,
        f"Revoke key '{name}'? Requests with it fail within seconds, on every replica. This cannot be undone.",
        "Revoke key",
        "/console/keys/revoke",
        [("name", name)],
        danger=True,
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
    return _confirm(
        request,
        session,
        f"Rotate key '{name}'? A new secret is made and shown once, on the next page; "
        "the old one keeps working for the grace period you choose (on every replica within seconds).",
        "Rotate key",
        "/console/keys/rotate",
        [("name", name)],
        danger=True,
        choice=("grace", "Old secret keeps working for", [(value, label) for value, label, _ in GRACES]),
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
edit_page = page(_edit_page)
confirm_edit = page(_confirm_edit)
edit_key = action(_edit)
confirm_revoke = page(_confirm_revoke)
revoke_key = action(_revoke)
confirm_rotate = page(_confirm_rotate)
rotate_key = action(_rotate)
edit_limits = page(LIMITS.edit)
confirm_limits = page(LIMITS.confirm)
set_limits = action(LIMITS.store)
