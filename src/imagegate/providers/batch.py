"""The provider Batch API hook: the envelope a provider's asynchronous batch endpoint speaks.

A batch line is the provider's ordinary request (``ProviderAdapter.to_wire``), and a line's answer
is read back by the adapter's ordinary ``from_wire`` / ``error_from_wire``: a ``BatchApi`` only
packs wire requests into the provider's batch submission, reads the batch's state, unpacks each
line's answer into a ``WireResponse`` and cancels. An adapter offers one by overriding
``ProviderAdapter.batch_api`` (``None``: the route has no batch API and batch mode is refused).

Every call goes through ``send`` (the gateway's executor, after the adapter's ``authorize``), so
a batch API is transport facts and pure transforms, never a client of its own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from imagegate.providers.base import WireRequest, WireResponse

if TYPE_CHECKING:
    from imagegate.providers.base import RouteTarget

BatchState = Literal["running", "completed", "failed", "expired", "cancelled"]
"""The gateway's batch states; ``running`` is the only one that is not final."""

FINAL_STATES: frozenset[str] = frozenset({"completed", "failed", "expired", "cancelled"})

Send = Callable[[WireRequest], Awaitable[WireResponse]]
"""Sends one wire request (credentials completed by the adapter) and returns the whole answer."""


@dataclass(frozen=True, slots=True)
class BatchLine:
    """One request of a batch: the key it is matched back by, and the provider request it stands for."""

    key: str
    wire: WireRequest


@dataclass(frozen=True, slots=True)
class BatchStatus:
    """Where a provider batch stands: the gateway's state and the provider's own word for it."""

    state: BatchState
    provider_state: str
    # Whether line answers can be downloaded now (a finished batch; an expired or cancelled
    # OpenAI batch still hands back the lines it finished).
    has_results: bool = False


@dataclass(frozen=True, slots=True)
class LineAnswer:
    """One line's answer as a plain response would have been: ``status`` 2xx with the body, or an error."""

    key: str
    response: WireResponse
    # Set when the provider gave the line no HTTP answer at all (expired, cancelled, not run).
    not_run: str | None = None


class BatchError(Exception):
    """The provider refused or broke a batch call; ``response`` is its answer when there was one."""

    def __init__(self, message: str, response: WireResponse | None = None) -> None:
        super().__init__(message)
        self.response = response


class BatchApi(ABC):
    """A provider's batch endpoint: submit, poll, read the lines back, cancel."""

    @abstractmethod
    async def submit(self, lines: Sequence[BatchLine], route: RouteTarget, send: Send) -> str:
        """Create the provider batch from ``lines``; its provider id. Raises ``BatchError``."""

    @abstractmethod
    async def status(self, batch_id: str, route: RouteTarget, send: Send) -> BatchStatus:
        """The batch's current state. Raises ``BatchError``."""

    @abstractmethod
    async def answers(self, batch_id: str, route: RouteTarget, send: Send) -> list[LineAnswer]:
        """Every line's answer (lines the provider never ran: ``not_run``). Raises ``BatchError``."""

    @abstractmethod
    async def cancel(self, batch_id: str, route: RouteTarget, send: Send) -> BatchStatus:
        """Ask the provider to cancel; the state it reports. Raises ``BatchError``."""


def checked(response: WireResponse, what: str) -> WireResponse:
    """``response`` when 2xx, else ``BatchError`` naming the call (the body stays for the caller)."""
    if response.status >= 300:
        raise BatchError(f"{what} failed with HTTP {response.status}", response)
    return response
