"""Signing in and out of the console, and the guards every page and form goes through.

Sign-in takes one key: the master key (role ``admin``) or a virtual key whose role is ``admin`` or
``admin-read``. The key is checked and forgotten; the page never echoes it back, not even after a
failed attempt. Every POST must carry the session's CSRF token (or, for sign-in, the token of the
sign-in cookie), and changes need the ``admin`` role.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import anyio.to_thread
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from imagegate.domain.errors import ImagegateError
from imagegate.web.render import render
from imagegate.web.session import SESSION_COOKIE, SIGNIN_COOKIE, ConsoleRole, ConsoleSession
from imagegate.web.state import deps

Page = Callable[[Request, ConsoleSession], Awaitable[Response]]
Action = Callable[[Request, ConsoleSession, FormData], Awaitable[Response]]
HOME = "/console/overview"


def _key_still_valid(request: Request, session: ConsoleSession) -> bool:
    if session.key_id is None:
        return deps(request).master_key is not None
    records = deps(request).key_admin.list()
    return any(record.id == session.key_id and record.active and record.role == session.role for record in records)


async def current_session(request: Request) -> ConsoleSession | None:
    """The request's valid session: signed, unexpired, not ended, its key still active and still of
    the role it signed in with (a key given another role signs in again, to its new role if any)."""
    session = deps(request).sessions.read(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    if not await anyio.to_thread.run_sync(_key_still_valid, request, session):
        return None
    return session


def to_signin(request: Request) -> Response:
    """Redirect to sign-in, remembering where the operator was going."""
    target = request.url.path + ("?" + request.url.query if request.url.query else "")
    return RedirectResponse(f"/console/sign-in?next={quote(target, safe='/')}", status_code=303)


def page(handler: Page) -> Callable[[Request], Awaitable[Response]]:
    """A GET page that needs a session (else: redirect to sign-in)."""

    async def endpoint(request: Request) -> Response:
        session = await current_session(request)
        if session is None:
            return to_signin(request)
        return await handler(request, session)

    return endpoint


def refused(request: Request, session: ConsoleSession | None, message: str, status: int) -> Response:
    """A page saying why a form was refused."""
    return render(request, "refused.html", session, status=status, message=message)


def form_text(form: FormData, name: str) -> str | None:
    """A text field of a form, stripped; None when absent (or a file)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else None


async def _checked_form(request: Request, session: ConsoleSession) -> FormData | Response:
    form = await request.form()
    if not deps(request).sessions.csrf_ok(session, form_text(form, "csrf")):
        message = "This form expired or did not come from the console. Reload the page and try again."
        return refused(request, session, message, 403)
    return form


def action(handler: Action, *, needs_admin: bool = True) -> Callable[[Request], Awaitable[Response]]:
    """A POST form: needs a session and its CSRF token, and (for changes) the admin role."""

    async def endpoint(request: Request) -> Response:
        session = await current_session(request)
        if session is None:
            return to_signin(request)
        form = await _checked_form(request, session)
        if isinstance(form, Response):
            return form
        if needs_admin and not session.can_change:
            return refused(request, session, "Your key has the admin-read role: it can look, not change.", 403)
        return await handler(request, session, form)

    return endpoint


def _safe_next(value: str | None) -> str:
    # Only paths inside the console: never an absolute URL an attacker could send people to.
    if value is None or not value.startswith("/console/") or value.startswith("//"):
        return HOME
    return value


def _signin_page(request: Request, message: str | None = None, status: int = 200) -> Response:
    sessions = deps(request).sessions
    nonce, token = sessions.signin_nonce()
    response = render(
        request,
        "signin.html",
        None,
        status=status,
        message=message,
        signin_token=token,
        next=_safe_next(request.query_params.get("next")),
    )
    response.set_cookie(
        SIGNIN_COOKIE,
        nonce,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/console",
    )
    return response


async def console_home(request: Request) -> Response:
    """``/console``: the overview when signed in, else the sign-in page."""
    if await current_session(request) is None:
        return RedirectResponse("/console/sign-in", status_code=303)
    return RedirectResponse(HOME, status_code=303)


async def signin_form(request: Request) -> Response:
    """``GET /console/sign-in``."""
    if await current_session(request) is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    return _signin_page(request)


async def _role_of(request: Request, secret: str) -> tuple[str, int | None, ConsoleRole] | None:
    master = deps(request).master_key
    if master is not None and hmac.compare_digest(secret.encode(), master.encode()):
        return "master", None, "admin"
    try:
        principal = await deps(request).gateway.authenticate(secret)
    except ImagegateError:
        return None
    role = principal.role
    if role == "admin" or role == "admin-read":
        return principal.key_name, principal.key_id, role
    return None


async def signin_submit(request: Request) -> Response:
    """``POST /console/sign-in``: check the key, then set the session cookie."""
    sessions = deps(request).sessions
    form = await request.form()
    if not sessions.signin_ok(request.cookies.get(SIGNIN_COOKIE), form_text(form, "csrf")):
        return _signin_page(request, "The sign-in form expired. Try again.", 403)
    secret = form_text(form, "key")
    found = None if secret is None or secret == "" else await _role_of(request, secret)
    if found is None:
        return _signin_page(request, "That key cannot open the console: use the master key or an admin key.", 401)
    who, key_id, role = found
    cookie, _ = sessions.issue(who, key_id, role)
    response = RedirectResponse(_safe_next(form_text(form, "next")), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(sessions.ttl_s),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/console",
    )
    response.delete_cookie(SIGNIN_COOKIE, path="/console")
    return response


async def _sign_out(request: Request, session: ConsoleSession, form: FormData) -> Response:
    deps(request).sessions.end(session)
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


# Any role may sign out; the CSRF token is still required (so no other site can sign you out).
sign_out = action(_sign_out, needs_admin=False)
