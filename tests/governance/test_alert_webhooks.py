"""Usage alerts end to end: a team's budget crosses its threshold and the team's webhook endpoint
receives one ``usage.threshold_crossed`` event, signed per Standard Webhooks and verified with the
``standardwebhooks`` library; crossing it again in the same period sends nothing more."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.jobs.conftest import jobs_config, running_receiver
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import GatewayHandle, running_gateway

MASTER = "mk-alert-hooks"
ADMIN = {"authorization": f"Bearer {MASTER}"}


@pytest.fixture(scope="module")
def alerting_gateway(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHandle]:
    """Alerts checked every 0.1 s, webhooks delivered at once (receivers on 127.0.0.1 allowed)."""
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("alert-hooks") / "imagegate.db")
    with running_gateway(
        engine,
        jobs_config(sandbox_url),
        master_key=MASTER,
        usage_alerts_interval_s=0.1,
        webhook_retry_schedule_s=[0.0, 0.1],
        webhook_poll_s=0.1,
    ) as handle:
        yield handle
    engine.dispose()


def test_a_budget_crossing_reaches_the_teams_webhook_signed_once(alerting_gateway: GatewayHandle) -> None:
    base = alerting_gateway.url
    team = f"design-{uuid.uuid4().hex[:6]}"
    made = httpx.post(
        f"{base}/admin/teams",
        json={"name": team, "budget_usd": "1.00", "budget_period": "month", "alert_thresholds": [50]},
        headers=ADMIN,
    )
    assert made.status_code == 201, made.text
    key = httpx.post(f"{base}/admin/keys", json={"name": f"{team}-key", "team": team}, headers=ADMIN)
    assert key.status_code == 201, key.text
    secret = key.json()["key"]
    with running_receiver() as receiver:
        endpoint = httpx.post(
            f"{base}/admin/webhooks",
            json={"url": receiver.url, "team": team, "events": ["usage.threshold_crossed"]},
            headers=ADMIN,
        )
        assert endpoint.status_code == 201, endpoint.text
        signing = Webhook(endpoint.json()["secret"])
        client = {"authorization": f"Bearer {secret}"}
        # Each high-quality 1024x1536 generation costs $0.16465: the fourth crosses 50% of $1.
        for _ in range(4):
            answer = httpx.post(
                f"{base}/v1/images/generations",
                json={"model": "gpt-image-2", "prompt": "a poster", "quality": "high", "size": "1024x1536"},
                headers=client,
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
        ((headers, body),) = receiver.wait_for(1)
        event = signing.verify(body, headers)  # raises unless the signature is the gateway's, for this body
        assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(headers)
        assert event["type"] == "usage.threshold_crossed"
        assert json.dumps(event["data"]).count(team) >= 1
        time.sleep(0.5)  # several alert rounds: the crossing is claimed once per period
        assert len(receiver.received) == 1
