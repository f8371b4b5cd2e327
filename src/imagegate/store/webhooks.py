"""``SqlWebhookStore``: the accounting ``WebhookStore`` port on SQLAlchemy Core.

A sender claims a due delivery by moving its ``next_attempt_at`` forward with a conditional
update (the value it read), so two replicas never send the same attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from imagegate.accounting.webhooks import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from imagegate.store.database import Bind, begin, connect
from imagegate.store.job_tables import webhook_attempts, webhook_deliveries, webhook_endpoints

_E = webhook_endpoints.c
_D = webhook_deliveries.c


def _endpoint(row: Any) -> WebhookEndpoint:
    return WebhookEndpoint(**{f.name: row._mapping[f.name] for f in fields(WebhookEndpoint)})


def _delivery(row: Any) -> WebhookDelivery:
    return WebhookDelivery(**{f.name: row._mapping[f.name] for f in fields(WebhookDelivery)})


class SqlWebhookStore:
    """Webhook endpoints, deliveries and attempts (see the module docstring)."""

    def __init__(self, bind: Bind) -> None:
        self._bind = bind

    def create_endpoint(self, endpoint: WebhookEndpoint) -> None:
        """Store a new endpoint."""
        with begin(self._bind) as conn:
            conn.execute(sa.insert(webhook_endpoints).values(**asdict(endpoint)))

    def get_endpoint(self, endpoint_id: str) -> WebhookEndpoint | None:
        """One endpoint (deleted ones too)."""
        with connect(self._bind) as conn:
            row = conn.execute(sa.select(webhook_endpoints).where(_E.id == endpoint_id)).one_or_none()
        return None if row is None else _endpoint(row)

    def list_endpoints(self) -> list[WebhookEndpoint]:
        """Every endpoint not deleted, oldest first."""
        query = sa.select(webhook_endpoints).where(_E.deleted_at.is_(None)).order_by(_E.created_at, _E.id)
        with connect(self._bind) as conn:
            return [_endpoint(row) for row in conn.execute(query)]

    def delete_endpoint(self, endpoint_id: str, at: datetime) -> bool:
        """Stop an endpoint receiving events; False when there is no such live endpoint."""
        where = sa.and_(_E.id == endpoint_id, _E.deleted_at.is_(None))
        with begin(self._bind) as conn:
            return conn.execute(sa.update(webhook_endpoints).where(where).values(deleted_at=at)).rowcount == 1

    def endpoints_for(self, *, key_id: int | None, team_id: int | None) -> list[WebhookEndpoint]:
        """Live endpoints registered for this key or this team."""
        owners = []
        if key_id is not None:
            owners.append(_E.key_id == key_id)
        if team_id is not None:
            owners.append(_E.team_id == team_id)
        if not owners:
            return []
        query = sa.select(webhook_endpoints).where(_E.deleted_at.is_(None), sa.or_(*owners)).order_by(_E.created_at)
        with connect(self._bind) as conn:
            return [_endpoint(row) for row in conn.execute(query)]

    def add_deliveries(self, deliveries: Sequence[WebhookDelivery]) -> None:
        """Queue deliveries, in one transaction."""
        if deliveries:
            with begin(self._bind) as conn:
                conn.execute(sa.insert(webhook_deliveries), [asdict(delivery) for delivery in deliveries])

    def claim_due(self, *, now: datetime, lease_until: datetime, limit: int) -> list[WebhookDelivery]:
        """Pending deliveries due by ``now``, each moved to ``lease_until`` so no other sender takes it."""
        query = (
            sa.select(_D.id, _D.next_attempt_at)
            .where(_D.status == "pending", _D.next_attempt_at <= now)
            .order_by(_D.next_attempt_at)
            .limit(limit)
        )
        claimed = []
        with connect(self._bind) as conn:
            due = list(conn.execute(query))
        for delivery_id, seen in due:
            with begin(self._bind) as conn:
                row = conn.execute(
                    sa.update(webhook_deliveries)
                    .where(_D.id == delivery_id, _D.status == "pending", _D.next_attempt_at == seen)
                    .values(next_attempt_at=lease_until)
                    .returning(webhook_deliveries)
                ).one_or_none()
            if row is not None:
                claimed.append(_delivery(row))
        return claimed

    def record_attempt(
        self,
        attempt: WebhookAttempt,
        *,
        status: DeliveryStatus,
        next_attempt_at: datetime | None,
        delivered_at: datetime | None,
    ) -> None:
        """Append the attempt and move its delivery on, in one transaction."""
        with begin(self._bind) as conn:
            conn.execute(sa.insert(webhook_attempts).values(**asdict(attempt)))
            conn.execute(
                sa.update(webhook_deliveries)
                .where(_D.id == attempt.delivery_id)
                .values(
                    status=status,
                    attempts=attempt.attempt,
                    next_attempt_at=next_attempt_at,
                    delivered_at=delivered_at,
                )
            )

    def deliveries(self, *, endpoint_id: str | None, limit: int) -> list[WebhookDelivery]:
        """Deliveries, newest first (one endpoint's, or all)."""
        query = sa.select(webhook_deliveries)
        if endpoint_id is not None:
            query = query.where(_D.endpoint_id == endpoint_id)
        query = query.order_by(_D.created_at.desc(), _D.id.desc()).limit(limit)
        with connect(self._bind) as conn:
            return [_delivery(row) for row in conn.execute(query)]

    def attempts(self, delivery_ids: Sequence[str]) -> list[WebhookAttempt]:
        """The attempts of these deliveries, oldest first."""
        if not delivery_ids:
            return []
        c = webhook_attempts.c
        query = sa.select(webhook_attempts).where(c.delivery_id.in_(list(delivery_ids))).order_by(c.id)
        with connect(self._bind) as conn:
            return [
                WebhookAttempt(**{f.name: row._mapping[f.name] for f in fields(WebhookAttempt)})
                for row in conn.execute(query)
            ]
