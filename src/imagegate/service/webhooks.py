"""Webhooks: the ``EventSink`` the gateway emits through, and the sender that delivers (docs/jobs.md).

``emit`` writes one delivery per matching endpoint to the database and returns; a sender loop on
every replica claims due deliveries and POSTs them, signed per Standard Webhooks (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``, through the ``standardwebhooks`` library). A 2xx
answer delivers; anything else is retried on ``schedule_s`` (the default spreads eight tries over
about 27 hours), and every attempt is recorded. Delivery is at least once: a sender that dies
between sending and recording leaves the delivery to be sent again after its claim lapses.

Signing secrets are not stored: an endpoint's secret is HMAC(signing key, endpoint id + salt), so
the database holds nothing a reader could forge deliveries with.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import heapq
import hmac
import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread
import orjson
from standardwebhooks.webhooks import Webhook

from imagegate.accounting.auth import Principal
from imagegate.accounting.ledger import utc_now
from imagegate.accounting.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookStore
from imagegate.domain.errors import InvalidRequest
from imagegate.providers.outbound import require_http_url
from imagegate.service.webhook_sender import WebhookSender

log = logging.getLogger("imagegate.webhooks")

EVENT_TYPES = ("image.job.completed", "image.job.failed", "image.job.cancelled", "usage.threshold_crossed")
# Standard Webhooks' suggested schedule: at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (~27.5 h).
DEFAULT_SCHEDULE_S = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Retry schedule (delay before each try; its length is the number of tries), polling and claims."""

    schedule_s: tuple[float, ...] = DEFAULT_SCHEDULE_S
    # The sender wakes when this process emits and when a retry it scheduled is due; the poll only
    # picks up what another replica left (it died mid-delivery), so it can be slow.
    poll_s: float = 15.0
    claim_s: float = 60.0


class WebhookService:
    """Endpoint administration, ``emit``, and the delivery loop."""

    def __init__(
        self,
        store: WebhookStore,
        *,
        signing_key: bytes,
        sender: WebhookSender,
        settings: WebhookSettings | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._signing_key = signing_key
        self._sender = sender
        self.settings = settings if settings is not None else WebhookSettings()
        self._clock = clock
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._retries_due: list[datetime] = []  # a heap: when retries this process scheduled are due

    # -- endpoints ------------------------------------------------------------------------------

    def secret_for(self, endpoint: WebhookEndpoint) -> str:
        """The endpoint's signing secret (``whsec_`` + base64), derived, never stored."""
        digest = hmac.new(self._signing_key, f"{endpoint.id}:{endpoint.secret_salt}".encode(), hashlib.sha256)
        return "whsec_" + base64.b64encode(digest.digest()).decode()

    async def create_endpoint(
        self, url: str, *, key_id: int | None, team_id: int | None, events: Sequence[str] | None
    ) -> tuple[WebhookEndpoint, str]:
        """Register an endpoint for a key or a team; its secret (shown once to the caller)."""
        try:
            require_http_url(url)
        except Exception as error:
            raise InvalidRequest(f"Invalid value for 'url': {error}.", param="url") from None
        if (key_id is None) == (team_id is None):
            raise InvalidRequest("An endpoint belongs to exactly one key or one team.", param="key")
        unknown = [event for event in events or () if event not in EVENT_TYPES]
        if unknown:
            raise InvalidRequest(f"Unknown event type {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}.", param="events")
        endpoint = WebhookEndpoint(
            id="we_" + uuid.uuid4().hex,
            url=url,
            key_id=key_id,
            team_id=team_id,
            events=None if events is None else list(events),
            secret_salt=secrets.token_hex(16),
            created_at=self._clock(),
        )
        await anyio.to_thread.run_sync(self._store.create_endpoint, endpoint)
        return endpoint, self.secret_for(endpoint)

    async def list_endpoints(self) -> list[WebhookEndpoint]:
        """Every live endpoint."""
        return await anyio.to_thread.run_sync(self._store.list_endpoints)

    async def delete_endpoint(self, endpoint_id: str) -> bool:
        """Stop an endpoint (its delivery history stays)."""
        return await anyio.to_thread.run_sync(self._store.delete_endpoint, endpoint_id, self._clock())

    async def owns(self, endpoint_id: str, principal: Principal) -> bool:
        """Whether ``principal`` may name this endpoint on a job (its key's, or its team's)."""
        endpoint = await anyio.to_thread.run_sync(self._store.get_endpoint, endpoint_id)
        if endpoint is None or endpoint.deleted_at is not None:
            return False
        return endpoint.key_id == principal.key_id or (
            endpoint.team_id is not None and endpoint.team_id == principal.team_id
        )

    async def deliveries(
        self, endpoint_id: str | None, limit: int
    ) -> list[tuple[WebhookDelivery, list[WebhookAttempt]]]:
        """Recent deliveries with their attempts, newest first."""

        def read() -> list[tuple[WebhookDelivery, list[WebhookAttempt]]]:
            found = self._store.deliveries(endpoint_id=endpoint_id, limit=limit)
            attempts = self._store.attempts([delivery.id for delivery in found])
            return [(delivery, [a for a in attempts if a.delivery_id == delivery.id]) for delivery in found]

        return await anyio.to_thread.run_sync(read)

    # -- the EventSink port ---------------------------------------------------------------------

    async def emit(
        self,
        event_type: str,
        data: dict[str, Any],
        *,
        team_id: int | None,
        key_id: int | None,
        endpoint_id: str | None = None,
    ) -> None:
        """Queue ``event_type`` for every matching endpoint (only ``endpoint_id`` when given)."""
        now = self._clock()
        payload = orjson.dumps({"type": event_type, "timestamp": now.isoformat(), "data": data}).decode()

        def queue() -> int:
            endpoints = self._store.endpoints_for(key_id=key_id, team_id=team_id)
            chosen = [e for e in endpoints if (endpoint_id is None or e.id == endpoint_id) and e.wants(event_type)]
            deliveries = [
                WebhookDelivery(
                    id="msg_" + uuid.uuid4().hex,
                    endpoint_id=endpoint.id,
                    event_type=event_type,
                    payload=payload,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now + timedelta(seconds=self.settings.schedule_s[0]),
                    created_at=now,
                )
                for endpoint in chosen
            ]
            self._store.add_deliveries(deliveries)
            return len(deliveries)

        if await anyio.to_thread.run_sync(queue):
            self._wake.set()

    # -- delivering -----------------------------------------------------------------------------

    async def deliver_due(self) -> int:
        """One pass: send every delivery due now; how many were tried."""
        now = self._clock()
        claimed = await anyio.to_thread.run_sync(
            lambda: self._store.claim_due(now=now, lease_until=now + timedelta(seconds=self.settings.claim_s), limit=50)
        )
        await asyncio.gather(*(self._attempt(delivery) for delivery in claimed))
        return len(claimed)

    async def _attempt(self, delivery: WebhookDelivery) -> None:
        endpoint = await anyio.to_thread.run_sync(self._store.get_endpoint, delivery.endpoint_id)
        number = delivery.attempts + 1
        at = self._clock()
        if endpoint is None or endpoint.deleted_at is not None:
            attempt = WebhookAttempt(delivery.id, number, at, None, "endpoint deleted", 0)
            await anyio.to_thread.run_sync(
                lambda: self._store.record_attempt(attempt, status="failed", next_attempt_at=None, delivered_at=None)
            )
            return
        body = delivery.payload.encode()
        signature = Webhook(self.secret_for(endpoint)).sign(delivery.id, at, delivery.payload)
        headers = {
            "webhook-id": delivery.id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature,
        }
        sent = await self._sender.send(endpoint.url, body, headers)
        attempt = WebhookAttempt(delivery.id, number, at, sent.http_status, sent.error, sent.latency_ms)
        if sent.delivered:
            status, next_at, delivered_at = "delivered", None, self._clock()
        elif number < len(self.settings.schedule_s):
            status, next_at, delivered_at = (
                "pending",
                self._clock() + timedelta(seconds=self.settings.schedule_s[number]),
                None,
            )
        else:
            status, next_at, delivered_at = "failed", None, None
        log.info(
            "webhook delivery=%s endpoint=%s attempt=%d status=%s http_status=%s error=%s",
            delivery.id,
            endpoint.id,
            number,
            status,
            sent.http_status,
            sent.error,
        )
        await anyio.to_thread.run_sync(
            lambda: self._store.record_attempt(
                attempt,
                status=status,  # type: ignore[arg-type]  # one of the three literals above
                next_attempt_at=next_at,
                delivered_at=delivered_at,
            )
        )

    def start(self) -> None:
        """Run the delivery loop on this event loop (every replica runs one; claims keep them apart)."""
        self._wake = asyncio.Event()
        self._loop = asyncio.create_task(self._forever(), name="imagegate-webhooks")

    async def _forever(self) -> None:
        while True:
            try:
                tried = await self.deliver_due()
            except Exception:
                log.exception("delivering webhooks failed; retrying")
                tried = 0
            if tried == 0:
                self._wake.clear()
                now = self._clock()
                if self._retries_due and self._retries_due[0] <= now:
                    while self._retries_due and self._retries_due[0] <= now:
                        heapq.heappop(self._retries_due)
                    continue  # became due during the pass: look again at once
                wait_s = self.settings.poll_s
                if self._retries_due:
                    wait_s = min(wait_s, (self._retries_due[0] - now).total_seconds())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait_s)

    async def stop(self) -> None:
        """Stop the loop and close the sender's connections."""
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        await self._sender.aclose()
