"""The webhook port: endpoints, deliveries and every delivery attempt (docs/jobs.md, "Webhooks").

``store/webhooks.py`` implements it. Synchronous like the other ports (called through
``anyio.to_thread``). No signing secret is stored: endpoints keep only a salt, and the secret is
derived from the gateway's signing key whenever a delivery is signed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

DeliveryStatus = Literal["pending", "delivered", "failed"]


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """A receiver of a key's (or team's) events; ``events`` None means every event."""

    id: str
    url: str
    key_id: int | None
    team_id: int | None
    events: list[str] | None
    secret_salt: str
    created_at: datetime
    deleted_at: datetime | None = None

    def wants(self, event_type: str) -> bool:
        """Whether this endpoint subscribed to ``event_type``."""
        return self.events is None or event_type in self.events


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event for one endpoint; ``payload`` is the exact JSON body every attempt sends."""

    id: str
    endpoint_id: str
    event_type: str
    payload: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WebhookAttempt:
    """One try at sending a delivery: the receiver's status, or why nothing was received."""

    delivery_id: str
    attempt: int
    at: datetime
    http_status: int | None
    error: str | None
    latency_ms: int


class WebhookStore(Protocol):
    """Endpoints, deliveries and attempts."""

    def create_endpoint(self, endpoint: WebhookEndpoint) -> None:
        """Store a new endpoint."""
        ...

    def get_endpoint(self, endpoint_id: str) -> WebhookEndpoint | None:
        """One endpoint (deleted ones too)."""
        ...

    def list_endpoints(self) -> list[WebhookEndpoint]:
        """Every endpoint not deleted, oldest first."""
        ...

    def delete_endpoint(self, endpoint_id: str, at: datetime) -> bool:
        """Stop an endpoint receiving events; False when there is no such live endpoint."""
        ...

    def endpoints_for(self, *, key_id: int | None, team_id: int | None) -> list[WebhookEndpoint]:
        """Live endpoints registered for this key or this team."""
        ...

    def add_deliveries(self, deliveries: Sequence[WebhookDelivery]) -> None:
        """Queue deliveries, in one transaction."""
        ...

    def claim_due(self, *, now: datetime, lease_until: datetime, limit: int) -> list[WebhookDelivery]:
        """Pending deliveries due by ``now``, each moved to ``lease_until`` so no other sender takes it."""
        ...

    def record_attempt(
        self,
        attempt: WebhookAttempt,
        *,
        status: DeliveryStatus,
        next_attempt_at: datetime | None,
        delivered_at: datetime | None,
    ) -> None:
        """Append the attempt and move its delivery on, in one transaction."""
        ...

    def deliveries(self, *, endpoint_id: str | None, limit: int) -> list[WebhookDelivery]:
        """Deliveries, newest first (one endpoint's, or all)."""
        ...

    def attempts(self, delivery_ids: Sequence[str]) -> list[WebhookAttempt]:
        """The attempts of these deliveries, oldest first."""
        ...
