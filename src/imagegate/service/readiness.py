"""Readiness: whether this replica's dependencies answer now (``GET /readyz``).

Liveness (``/healthz``) says the process serves; readiness says it can do useful work: every
check (the database, Redis when configured) must answer within the timeout. A check is an
async callable that raises when its dependency is down; the checks themselves are built where
the dependencies are (``store/readiness.py``), wired in ``app.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

log = logging.getLogger("imagegate.readiness")

Check = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ReadinessReport:
    """Each dependency's state (``ok`` or ``unavailable``) and whether all are ok."""

    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        """True when every dependency answered."""
        return all(state == "ok" for state in self.checks.values())


class Readiness:
    """Runs the named checks concurrently, each bounded by ``timeout_s``."""

    def __init__(self, checks: Mapping[str, Check], *, timeout_s: float = 2.0) -> None:
        self._checks = dict(checks)
        self._timeout_s = timeout_s

    async def _run(self, name: str, check: Check) -> str:
        try:
            await asyncio.wait_for(check(), self._timeout_s)
        except Exception as exc:
            # The type only: a driver's message can carry a host or user name.
            log.warning("readiness: %s unavailable (%s)", name, type(exc).__name__)
            return "unavailable"
        return "ok"

    async def report(self) -> ReadinessReport:
        """Every dependency's state now."""
        names = list(self._checks)
        states = await asyncio.gather(*(self._run(name, self._checks[name]) for name in names))
        return ReadinessReport(dict(zip(names, states, strict=True)))
