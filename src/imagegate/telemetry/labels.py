"""Label values with a bounded set: every series a scrape can show is known in advance.

Prometheus keeps one series per label combination, so a label fed from what clients send (a model
name, a team) must collapse the unexpected into one value. Request ids, prompts and keys are
never labels at all.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from imagegate.domain.errors import ImagegateError

NONE = "none"
OTHER = "other"

# Codes the attempt recorder writes that no error class carries (service/attempts.py, images.py).
_RECORDER_CODES = ("client_disconnected", "cancelled", "internal_error", "outcome_unknown")


def known_error_codes() -> frozenset[str]:
    """Every ``code`` of the error tree (adapters' own subclasses included) and the recorder's."""
    codes: set[str] = set(_RECORDER_CODES)
    pending: list[type[ImagegateError]] = [ImagegateError]
    while pending:
        cls = pending.pop()
        codes.add(cls.code)
        pending.extend(cls.__subclasses__())
    return frozenset(codes)


class LabelSets:
    """Maps raw values to bounded label values: configured models and routes, known error codes,
    and the first ``max_teams`` team names seen by this process (later ones become ``other``)."""

    def __init__(self, *, models: Iterable[str], routes: Iterable[str], max_teams: int = 50) -> None:
        self._models = frozenset(models)
        self._routes = frozenset(routes)
        self._codes = known_error_codes()
        self._teams: set[str] = set()
        self._max_teams = max_teams
        self._lock = threading.Lock()

    def model(self, name: str | None) -> str:
        """A configured alias as itself; no model ``none``; any other name ``other``."""
        if name is None or name == "":
            return NONE
        return name if name in self._models else OTHER

    def route(self, name: str) -> str:
        """A configured route as itself, anything else ``other``."""
        return name if name in self._routes else OTHER

    def error_code(self, code: str | None) -> str:
        """A known error code as itself, none as ``""``, anything else ``other``."""
        if code is None:
            return ""
        return code if code in self._codes else OTHER

    def team(self, name: str | None) -> str:
        """The team's name while the set has room, ``none`` without a team, else ``other``."""
        if name is None or name == "":
            return NONE
        with self._lock:
            if name in self._teams:
                return name
            if len(self._teams) < self._max_teams:
                self._teams.add(name)
                return name
        return OTHER
