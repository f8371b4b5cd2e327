"""Pinning a request to one route, for debugging: ``x-imagegate-pin-route``, admins only.

The pin needs the master key in ``x-imagegate-admin-key`` as well, so an ordinary virtual key
can never steer traffic past the operator's routing policy, breakers or disabled routes.
"""

from __future__ import annotations

from starlette.requests import Request

from imagegate.api.admin.auth import master_key_matches
from imagegate.domain.errors import InvalidRequest, PermissionDenied
from imagegate.service.plan import Plan

PIN_HEADER = "x-imagegate-pin-route"
ADMIN_HEADER = "x-imagegate-admin-key"


def pin_route(request: Request, plan: Plan) -> None:
    """Restrict ``plan`` to the pinned route when an admin asked for one."""
    pinned = request.headers.get(PIN_HEADER)
    if pinned is None:
        return
    if not master_key_matches(request, request.headers.get(ADMIN_HEADER)):
        raise PermissionDenied(f"'{PIN_HEADER}' needs the master key in '{ADMIN_HEADER}'.", param=PIN_HEADER)
    names = [route.target.name for route in plan.routes]
    if pinned not in names:
        raise InvalidRequest(
            f"Route '{pinned}' cannot serve this request; candidates: {', '.join(names)}.", param=PIN_HEADER
        )
    plan.pinned_route = pinned
