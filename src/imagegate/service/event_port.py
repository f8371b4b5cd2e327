"""The outbound event port: things the gateway tells its users about (job finished, budget crossed).

The webhook delivery service implements it (signed Standard Webhooks deliveries to the endpoints a
team or key registered, retried with backoff); ``app.py`` wires it. Producers (jobs, usage alerts)
only ``emit``: delivery is durable and asynchronous, so ``emit`` returns once the event is queued.
"""

from __future__ import annotations

from typing import Any, Protocol


class EventSink(Protocol):
    """Accepts events for delivery to the endpoints of a team or key."""

    async def emit(
        self,
        event_type: str,
        data: dict[str, Any],
        *,
        team_id: int | None,
        key_id: int | None,
        endpoint_id: str | None = None,
    ) -> None:
        """Queue ``event_type`` with ``data`` for every matching endpoint (only ``endpoint_id`` when given)."""
        ...
