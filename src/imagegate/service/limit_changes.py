"""Limits and alert thresholds as operators type them (CLI flags, admin API fields), checked.

Both front ends hand over the same names with raw values; this module turns them into a change
to apply to a stored ``Limits``: a field given a value sets it, a field given ``None`` (JSON
``null``, the CLI's ``none``) clears it, a field not given stays as it is. A bad value raises
``InvalidLimit`` naming the field, before anything is stored.

Budgets are typed in USD (``"50"``, ``"12.50"``) and kept as integer micro-dollars.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from imagegate.domain.errors import InvalidRequest
from imagegate.domain.limits import PERIODS, Limits
from imagegate.domain.money import micros_from_decimal, usd_string

# The operator-facing names, in display order; ``budget_usd`` is stored as ``budget_micros``.
LIMIT_FIELDS = ("budget_usd", "budget_period", "image_quota", "quota_period", "rpm", "ipm", "max_concurrent")
_COUNTS = ("image_quota", "rpm", "ipm", "max_concurrent")
_CLEAR_WORDS = ("none", "off", "")


class InvalidLimit(InvalidRequest):
    """A limit or threshold value that cannot be stored; ``param`` names the field."""


def apply_limit_changes(current: Limits, changes: Mapping[str, Any]) -> Limits:
    """``current`` with ``changes`` (operator names to raw values; ``None`` clears) applied."""
    updates: dict[str, Any] = {}
    for name, raw in changes.items():
        if name not in LIMIT_FIELDS:
            raise InvalidLimit(f"unknown limit '{name}'", param=name)
        value = None if _clears(raw) else raw
        if name == "budget_usd":
            updates["budget_micros"] = None if value is None else _budget_micros(value)
        elif name in ("budget_period", "quota_period"):
            if value not in PERIODS:
                raise InvalidLimit(f"'{name}' must be one of {', '.join(PERIODS)}", param=name)
            updates[name] = value
        else:
            updates[name] = None if value is None else _count(name, value)
    return dataclasses.replace(current, **updates)


def parse_thresholds(raw: Sequence[Any] | str | None) -> tuple[int, ...] | None:
    """Alert thresholds in percent of a limit (``50,80,100``), sorted, unique; None clears them."""
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in _CLEAR_WORDS):
        return None
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    percents: set[int] = set()
    for item in items:
        try:
            percent = int(str(item).strip())
        except ValueError:
            raise InvalidLimit(f"alert thresholds are whole percents, got {item!r}", param="alert_thresholds") from None
        if not 1 <= percent <= 1000:
            raise InvalidLimit("alert thresholds must be between 1 and 1000 percent", param="alert_thresholds")
        percents.add(percent)
    return tuple(sorted(percents))


class Unchanged:
    """The type of ``UNCHANGED``: a field an update leaves as it is (``None`` would clear it)."""


UNCHANGED = Unchanged()


def thresholds_change(raw: Sequence[Any] | str | Unchanged | None) -> tuple[int, ...] | None:
    """What a store's update takes for thresholds: None keeps them, ``()`` removes them."""
    if isinstance(raw, Unchanged):
        return None
    parsed = parse_thresholds(raw)
    return () if parsed is None else parsed


def thresholds_view(thresholds: tuple[int, ...] | None) -> list[int] | None:
    """Stored thresholds as shown: None when there are none (stored as NULL or as an empty list)."""
    return None if thresholds is None or len(thresholds) == 0 else list(thresholds)


def limits_view(limits: Limits) -> dict[str, Any]:
    """Limits as operators read them: the budget in USD (a decimal string), counts as integers."""
    return {
        "budget_usd": None if limits.budget_micros is None else usd_string(limits.budget_micros),
        "budget_period": limits.budget_period,
        "image_quota": limits.image_quota,
        "quota_period": limits.quota_period,
        "rpm": limits.rpm,
        "ipm": limits.ipm,
        "max_concurrent": limits.max_concurrent,
    }


def _clears(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip().lower() in _CLEAR_WORDS)


def _budget_micros(raw: Any) -> int:
    if isinstance(raw, float | bool):
        # A float has already lost the cents it was typed with; ask for the exact text.
        raise InvalidLimit("'budget_usd' must be a decimal string such as \"50.00\"", param="budget_usd")
    try:
        amount = Decimal(str(raw).strip())
    except InvalidOperation:
        raise InvalidLimit(f"'budget_usd' must be an amount in USD, got {raw!r}", param="budget_usd") from None
    if not amount.is_finite() or amount < 0:
        raise InvalidLimit("'budget_usd' must be zero or more", param="budget_usd")
    return micros_from_decimal(amount)


def _count(name: str, raw: Any) -> int:
    if isinstance(raw, bool):
        raise InvalidLimit(f"'{name}' must be a whole number", param=name)
    try:
        value = int(str(raw).strip()) if not isinstance(raw, int) else raw
    except ValueError:
        raise InvalidLimit(f"'{name}' must be a whole number, got {raw!r}", param=name) from None
    if value < 1:
        raise InvalidLimit(f"'{name}' must be at least 1", param=name)
    return value
