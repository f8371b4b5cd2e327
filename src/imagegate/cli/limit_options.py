"""The limit flags ``teams create|update`` and ``keys create|update`` share, declared once.

``with_limit_options`` adds ``--budget-usd``, ``--budget-period``, ``--image-quota``,
``--quota-period``, ``--rpm``, ``--ipm``, ``--max-concurrent`` and ``--alert-at`` to a command and
hands it the flags given as ``limits`` (operator names to raw text; ``none`` clears a limit) and
``alert_at`` (the raw ``--alert-at`` text, or None). Values are checked by ``service.limit_changes``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import typer

_OPTIONS: dict[str, Any] = {
    "budget_usd": typer.Option(None, "--budget-usd", help="USD budget per budget period (none: no budget)."),
    "budget_period": typer.Option(None, "--budget-period", help="day | week | month | total (default month)."),
    "image_quota": typer.Option(None, "--image-quota", help="Images (not requests) per quota period."),
    "quota_period": typer.Option(None, "--quota-period", help="day | week | month | total (default month)."),
    "rpm": typer.Option(None, "--rpm", help="Requests per minute."),
    "ipm": typer.Option(None, "--ipm", help="Images per minute."),
    "max_concurrent": typer.Option(None, "--max-concurrent", help="Requests in flight at once."),
    "alert_at": typer.Option(None, "--alert-at", help="Alert at these percents of budget/quota, e.g. 50,80,100."),
}


def with_limit_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` (which takes ``limits`` and ``alert_at`` keywords) the shared limit flags."""
    signature = inspect.signature(command, eval_str=True)
    kept = [param for name, param in signature.parameters.items() if name not in ("limits", "alert_at")]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=str | None)
        for name, option in _OPTIONS.items()
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        alert_at = kwargs.pop("alert_at")
        limits = {name: kwargs.pop(name) for name in list(_OPTIONS) if name in kwargs}
        given = {name: value for name, value in limits.items() if value is not None}
        command(*args, limits=given, alert_at=alert_at, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=kept + added)  # type: ignore[attr-defined]  # typer reads it
    wrapper.__annotations__ = {param.name: param.annotation for param in kept + added}
    del wrapper.__wrapped__  # typer must see this signature, not the command's own
    return wrapper
