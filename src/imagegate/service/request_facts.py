"""What one request turned out to be, gathered while it runs, for whoever reports on requests.

The pipeline notes a few facts at the points that learn them (the key's team when it is
authenticated, the model when the request is planned, the error a dialect renders, each attempt
as it is recorded); a request-level reporter (metrics, traces: ``telemetry/``) opens the scope
around the request and reads the facts when it ends. Outside a scope (the CLI, smoke checks,
unit tests) noting is a no-op.

The scope is a ``ContextVar``, not an argument threaded through every layer: it is per request
(each task sees its own request, fanned-out parts share their parent's), so no state is shared
between requests, and the attempt loop needs no edit to carry it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from imagegate.accounting.ports import LedgerEntry


@dataclass(slots=True)
class AttemptSpan:
    """One recorded attempt of the request and when (monotonic seconds) its provider call ran."""

    entry: LedgerEntry
    started: float
    ended: float


@dataclass(slots=True)
class RequestFacts:
    """One request's facts; fields stay None until the pipeline learns them."""

    request_id: str | None = None
    model: str | None = None
    team: str | None = None
    error_code: str | None = None
    attempts: list[AttemptSpan] = field(default_factory=list)

    def provider_seconds(self) -> float:
        """Wall time spent in provider calls: the union of the attempts' intervals (fanned-out
        parts run in parallel, so their times overlap and are not added up)."""
        total = 0.0
        reach = float("-inf")
        for span in sorted(self.attempts, key=lambda span: span.started):
            start = max(span.started, reach)
            if span.ended > start:
                total += span.ended - start
            reach = max(reach, span.ended)
        return total

    def last_attempt(self) -> LedgerEntry | None:
        """The attempt recorded last, or None when no provider was tried."""
        return None if not self.attempts else self.attempts[-1].entry


_current: ContextVar[RequestFacts | None] = ContextVar("imagegate_request_facts", default=None)


@contextlib.contextmanager
def request_scope() -> Iterator[RequestFacts]:
    """Collect the facts of the request run inside the block."""
    facts = RequestFacts()
    token = _current.set(facts)
    try:
        yield facts
    finally:
        _current.reset(token)


def current_facts() -> RequestFacts | None:
    """The facts of the request being served here, or None outside a request scope."""
    return _current.get()


def note_team(team: str | None) -> None:
    """The authenticated key's team (None: the key has no team)."""
    facts = _current.get()
    if facts is not None:
        facts.team = team


def note_request(request_id: str, model: str | None) -> None:
    """The request's id and model: as the client named it, then the alias once planned."""
    facts = _current.get()
    if facts is not None:
        facts.request_id = request_id
        facts.model = model


def note_error(code: str) -> None:
    """The error code of the answer a dialect rendered for the request."""
    facts = _current.get()
    if facts is not None:
        facts.error_code = code


def note_attempt(entry: LedgerEntry, *, ended: float | None = None) -> None:
    """A recorded attempt; its provider call ran for ``entry.latency_ms`` up to ``ended`` (now)."""
    facts = _current.get()
    if facts is not None:
        end = time.monotonic() if ended is None else ended
        facts.attempts.append(AttemptSpan(entry, end - entry.latency_ms / 1000, end))
