"""Who may use the admin API: the master key, and virtual keys by role.

- ``Authorization: Bearer $IMAGEGATE_MASTER_KEY``: everything.
- a key with role ``admin``: everything the master key may do.
- a key with role ``admin-read``: every ``GET`` (reports, spend, usage export, listings); any
  change is 403.
- a key with role ``client``: 403 on every admin path.

When no master key is configured and the caller is not an admin-role key, admin paths answer 404,
so a gateway set up without admin access exposes no admin surface at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response

from imagegate.accounting.auth import Principal
from imagegate.api.admin.auth import AdminDisabled, master_key_matches
from imagegate.api.http import bearer_token, new_request_id
from imagegate.api.openai.errors import error_response
from imagegate.domain.errors import AuthenticationFailed, ImagegateError, PermissionDenied

Handler = Callable[[Request], Awaitable[Response]]
MASTER_ACTOR = "master"


class AdminRoleRequired(PermissionDenied):
    """The key is valid but its role does not allow this admin call."""

    code = "admin_role_required"


def may(principal: Principal, *, write: bool) -> bool:
    """Whether a key of ``principal``'s role may make an admin call (a change when ``write``)."""
    if principal.role == "admin":
        return True
    return principal.role == "admin-read" and not write


async def admin_actor(request: Request, *, write: bool) -> str:
    """Check the caller may make this admin call; who it is, for logs (``master`` or ``key:NAME``).

    Raises ``AdminDisabled`` (404), ``AuthenticationFailed`` (401) or ``AdminRoleRequired`` (403).
    """
    token = bearer_token(request)
    if master_key_matches(request, token):
        return MASTER_ACTOR
    master_configured = request.app.state.master_key is not None
    principal: Principal | None = None
    if token is not None:
        try:
            principal = await request.app.state.gateway.authenticate(token)
        except AuthenticationFailed:
            if not master_configured:
                raise AdminDisabled("The admin API is disabled: set IMAGEGATE_MASTER_KEY to enable it.") from None
            raise
    if principal is None:
        if not master_configured:
            raise AdminDisabled("The admin API is disabled: set IMAGEGATE_MASTER_KEY to enable it.")
        raise AuthenticationFailed(
            "Admin endpoints need 'Authorization: Bearer <IMAGEGATE_MASTER_KEY>' or a key with an admin role."
        )
    if not may(principal, write=write):
        if not master_configured and principal.role == "client":
            raise AdminDisabled("The admin API is disabled: set IMAGEGATE_MASTER_KEY to enable it.")
        needed = "admin" if write else "admin or admin-read"
        raise AdminRoleRequired(f"This key's role ({principal.role}) may not do this: it needs the {needed} role.")
    return f"key:{principal.key_name}"


def admin_endpoint(
    handler: Handler,
    *,
    write: bool,
    statuses: Mapping[type[ImagegateError], int] | None = None,
) -> Handler:
    """Wrap ``handler`` with the admin check and OpenAI-shaped errors (``statuses`` overrides codes).

    The handler finds the caller's name in ``request.state.admin_actor``.
    """
    overrides: dict[type[ImagegateError], int] = {AdminDisabled: 404, **(statuses or {})}

    async def endpoint(request: Request) -> Response:
        request_id = new_request_id()
        try:
            request.state.admin_actor = await admin_actor(request, write=write)
            response = await handler(request)
        except ImagegateError as error:
            failed = error_response(error, request_id)
            status = next((code for cls, code in overrides.items() if isinstance(error, cls)), None)
            if status is not None:
                failed.status_code = status
            return failed
        response.headers["x-request-id"] = request_id
        return response

    return endpoint


def read_or_write(
    reader: Handler, writer: Handler, *, statuses: Mapping[type[ImagegateError], int] | None = None
) -> Handler:
    """One endpoint for a path whose ``GET`` reads and whose other methods change things."""
    guarded_read = admin_endpoint(reader, write=False, statuses=statuses)
    guarded_write = admin_endpoint(writer, write=True, statuses=statuses)

    async def endpoint(request: Request) -> Response:
        return await (guarded_read if request.method in ("GET", "HEAD") else guarded_write)(request)

    return endpoint
