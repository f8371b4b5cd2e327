"""What the Keys and Teams pages share: the limit fields of their forms (checked before the
confirmation page, so a typo is named before anything is stored) and the spend lines behind the
"remaining" columns.

Field names are the admin API's and the CLI's (``service.limit_changes.LIMIT_FIELDS``); an empty
field clears that limit, exactly as ``none`` does on the command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imagegate.domain.errors import InvalidRequest
from imagegate.domain.limits import PERIODS, Limits
from imagegate.service.limit_changes import (
    LIMIT_FIELDS,
    UNCHANGED,
    Unchanged,
    apply_limit_changes,
    limits_view,
    parse_thresholds,
)
from imagegate.service.spend import SpendBy, SpendLine
from imagegate.web.state import ConsoleDeps

# (field, label, placeholder: an empty field means no limit): the template draws budget_period / quota_period as a choice of PERIODS.
LIMIT_INPUTS: tuple[tuple[str, str, str], ...] = (
    ("budget_usd", "Budget (USD)", "none"),
    ("budget_period", "Budget period", ""),
    ("image_quota", "Image quota", "none"),
    ("quota_period", "Quota period", ""),
    ("rpm", "Requests per minute", "none"),
    ("ipm", "Images per minute", "none"),
    ("max_concurrent", "Concurrent requests", "none"),
)
FORM_FIELDS = (*LIMIT_FIELDS, "alert_thresholds")
PERIOD_CHOICES = PERIODS


def sent_fields(source: Mapping[str, Any]) -> dict[str, str]:
    """The limit and threshold fields a form or query carried, stripped (an empty one clears)."""
    found = {name: source.get(name) for name in FORM_FIELDS}
    return {name: value.strip() for name, value in found.items() if isinstance(value, str)}


def limit_changes(values: Mapping[str, str]) -> dict[str, str]:
    """The limit fields a form (or a confirmation's query) carried, stripped; absent fields stay."""
    return {name: values[name].strip() for name in LIMIT_FIELDS if name in values}


def thresholds_of(values: Mapping[str, str]) -> str | Unchanged:
    """The alert thresholds field (``50,80,100``; empty clears), or ``UNCHANGED`` when absent."""
    raw = values.get("alert_thresholds")
    return UNCHANGED if raw is None else raw.strip()


def problem_with(changes: Mapping[str, str], thresholds: str | Unchanged) -> str | None:
    """What is wrong with the fields (the message names the field), or None."""
    try:
        apply_limit_changes(Limits(), changes)
        if not isinstance(thresholds, Unchanged):
            parse_thresholds(thresholds)
    except InvalidRequest as error:
        return error.message
    return None


def describe(changes: Mapping[str, str], thresholds: str | Unchanged) -> str:
    """The limits as a sentence for a confirmation page: ``budget $50 per month, image quota none``."""
    view = limits_view(apply_limit_changes(Limits(), changes))
    parts = [
        "budget " + ("none" if view["budget_usd"] is None else f"${view['budget_usd']} per {view['budget_period']}"),
        "image quota "
        + ("none" if view["image_quota"] is None else f"{view['image_quota']} per {view['quota_period']}"),
    ]
    parts.extend(f"{name} {'none' if view[name] is None else view[name]}" for name in ("rpm", "ipm", "max_concurrent"))
    if not isinstance(thresholds, Unchanged):
        parts.append("alerts at " + (thresholds + " %" if thresholds != "" else "none"))
    return ", ".join(parts)


def form_values(limits: Limits, thresholds: tuple[int, ...] | None) -> dict[str, str]:
    """A holder's current limits as the edit form's prefilled values."""
    view: dict[str, Any] = limits_view(limits)
    values = {name: "" if view[name] is None else str(view[name]) for name in LIMIT_FIELDS}
    values["alert_thresholds"] = "" if not thresholds else ",".join(str(t) for t in thresholds)
    return values


def confirm_fields(changes: Mapping[str, str], thresholds: str | Unchanged) -> list[tuple[str, str]]:
    """The hidden fields a confirmation page posts on."""
    fields = list(changes.items())
    if not isinstance(thresholds, Unchanged):
        fields.append(("alert_thresholds", thresholds))
    return fields


async def spend_lines(console: ConsoleDeps, by: SpendBy) -> dict[str, SpendLine]:
    """Each team's (or active key's) spend, holds and remaining budget and images, by name:
    the very lines ``GET /admin/spend`` answers with."""
    if console.spend is None:
        return {}
    return {line.holder.name: line for line in await console.spend.lines(by)}
