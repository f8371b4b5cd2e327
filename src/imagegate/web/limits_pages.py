"""The three steps of changing a key's or a team's limits in the console, for either holder.

Edit (the form, filled with the holder's current limits), confirm (what will be set, checked before
anything is stored), set (the CSRF-checked POST). A holder differs only in how its limits are read
and written, what "not found" means, and the sentence the confirmation adds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import anyio.to_thread
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from imagegate.domain.errors import InvalidRequest
from imagegate.domain.limits import Limits
from imagegate.service.limit_changes import Unchanged
from imagegate.web.auth import form_text, refused
from imagegate.web.limits_form import (
    LIMIT_INPUTS,
    PERIOD_CHOICES,
    confirm_fields,
    describe,
    form_values,
    limit_changes,
    problem_with,
    sent_fields,
    thresholds_of,
)
from imagegate.web.render import render
from imagegate.web.session import ConsoleSession

# A holder's current limits and alert thresholds, read by name (raises ``not_found`` when unknown).
ReadLimits = Callable[[Request, str], tuple[Limits, tuple[int, ...] | None]]
# Store limit changes and thresholds for a holder by name (raises ``not_found`` or ``InvalidRequest``).
WriteLimits = Callable[[Request, str, Mapping[str, str], str | Unchanged], None]


@dataclass(frozen=True, slots=True)
class LimitsPages:
    """The limit-editing pages of one kind of holder (``key`` or ``team``)."""

    holder: str
    section: str  # the console section, also the URL prefix: /console/{section}
    scope: str  # what the confirmation says about where the limits apply
    read: ReadLimits
    write: WriteLimits
    not_found: type[Exception]

    def _missing(self, request: Request, session: ConsoleSession, name: str) -> Response:
        return refused(request, session, f"No {self.holder} named '{name}'.", 404)

    async def edit(self, request: Request, session: ConsoleSession) -> Response:
        """The form, filled with the holder's current limits."""
        name = request.query_params.get("name", "")
        try:
            limits, thresholds = await anyio.to_thread.run_sync(self.read, request, name)
        except self.not_found:
            return self._missing(request, session, name)
        return render(
            request,
            "limits.html",
            session,
            active=self.section,
            title=f"Limits of {self.holder} {name}",
            holder=self.holder,
            name=name,
            values=form_values(limits, thresholds),
            inputs=LIMIT_INPUTS,
            periods=PERIOD_CHOICES,
            confirm=f"/console/{self.section}/confirm-limits",
            cancel=f"/console/{self.section}",
        )

    async def confirm(self, request: Request, session: ConsoleSession) -> Response:
        """What will be set, refused with the field named before anything is stored."""
        name = request.query_params.get("name", "")
        values = sent_fields(request.query_params)
        changes, thresholds = limit_changes(values), thresholds_of(values)
        problem = problem_with(changes, thresholds)
        if problem is not None:
            return refused(request, session, problem, 400)
        return render(
            request,
            "confirm.html",
            session,
            active=self.section,
            title="Confirm",
            question=f"Set the limits of {self.holder} '{name}' to: {describe(changes, thresholds)}? {self.scope}",
            confirm_label="Set limits",
            danger=False,
            action=f"/console/{self.section}/limits",
            fields=[("name", name), *confirm_fields(changes, thresholds)],
            cancel=f"/console/{self.section}",
        )

    async def store(self, request: Request, session: ConsoleSession, form: FormData) -> Response:
        """Store the confirmed limits; back to the section's list."""
        name = form_text(form, "name") or ""
        values = sent_fields(form)
        try:
            await anyio.to_thread.run_sync(
                lambda: self.write(request, name, limit_changes(values), thresholds_of(values))
            )
        except self.not_found:
            return self._missing(request, session, name)
        except InvalidRequest as error:
            return refused(request, session, error.message, 400)
        return RedirectResponse(f"/console/{self.section}", status_code=303)
