"""Webhooks end to end: endpoints through the admin API and the CLI, job events delivered to a real
receiver and verified with the ``standardwebhooks`` library, retries recorded, SSRF refused."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook
from typer.testing import CliRunner

from imagegate.cli.main import app
from tests.jobs.conftest import MASTER_KEY, running_receiver
from tests.jobs.test_jobs_e2e import poll
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import GatewayHandle

ADMIN = {"authorization": f"Bearer {MASTER_KEY}"}


def register(gateway: GatewayHandle, url: str, key_name: str, **fields: Any) -> dict[str, Any]:
    """``POST /admin/webhooks``; the endpoint with its secret."""
    created = httpx.post(f"{gateway.url}/admin/webhooks", json={"url": url, "key": key_name, **fields}, headers=ADMIN)
    assert created.status_code == 201, created.text
    return created.json()


def submit(gateway: GatewayHandle, secret: str, **body: Any) -> dict[str, Any]:
    """Submit a job over plain HTTP."""
    answer = httpx.post(
        f"{gateway.url}/v1/images/jobs",
        json={"model": "gpt-image-2", "quality": "low", **body},
        headers={"authorization": f"Bearer {secret}"},
    )
    assert answer.status_code == 202, answer.text
    return answer.json()


def deliveries(gateway: GatewayHandle, endpoint_id: str, until: str | None = None) -> list[dict[str, Any]]:
    """An endpoint's deliveries (waiting until each has reached ``until``)."""
    deadline = time.monotonic() + 30
    while True:
        found = httpx.get(f"{gateway.url}/admin/webhooks/{endpoint_id}/deliveries", headers=ADMIN).json()["data"]
        if until is None or (found and all(d["status"] == until for d in found)):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.05)


def test_job_events_arrive_signed_and_verify_with_the_standard_webhooks_library(jobs_gateway, jobs_key):
    name, secret = jobs_key
    with running_receiver() as receiver:
        endpoint = register(jobs_gateway, receiver.url, name)
        assert endpoint["secret"].startswith("whsec_")
        listed = httpx.get(f"{jobs_gateway.url}/admin/webhooks", headers=ADMIN).json()["data"]
        assert endpoint["id"] in [e["id"] for e in listed] and endpoint["secret"] not in json.dumps(listed)
        done = submit(jobs_gateway, secret, prompt="a kite")
        failed = submit(jobs_gateway, secret, prompt="[sandbox:moderation=output] x")
        slow = submit(jobs_gateway, secret, prompt="[sandbox:slow=5] slow")
        poll(jobs_gateway, secret, slow["id"], until={"in_progress"})
        httpx.post(
            f"{jobs_gateway.url}/v1/images/jobs/{slow['id']}/cancel", headers={"authorization": f"Bearer {secret}"}
        )
        arrived = receiver.wait_for(3)
    verifier = Webhook(endpoint["secret"])
    events = {}
    for headers, body in arrived:
        event = verifier.verify(body, headers)
        assert headers["webhook-id"].startswith("msg_")
        events[event["data"]["id"]] = event
    assert events[done["id"]]["type"] == "image.job.completed"
    assert events[done["id"]]["data"]["result"]["data"][0]["url"].startswith("http")
    assert events[failed["id"]]["type"] == "image.job.failed"
    assert events[failed["id"]]["data"]["error"]["code"] == "moderation_blocked"
    assert events[slow["id"]]["type"] == "image.job.cancelled"
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 43).verify(arrived[0][1], arrived[0][0])


def test_a_failing_receiver_is_retried_with_backoff_and_every_attempt_is_recorded(jobs_gateway, jobs_key):
    name, secret = jobs_key
    with running_receiver() as receiver:
        receiver.answers = [500, 503]
        endpoint = register(jobs_gateway, receiver.url, name, events=["image.job.completed"])
        submit(jobs_gateway, secret, prompt="retry me")
        arrived = receiver.wait_for(3)
        [delivery] = deliveries(jobs_gateway, endpoint["id"], until="delivered")
    assert len({headers["webhook-id"] for headers, _ in arrived}) == 1  # one message, three tries
    assert delivery["attempts"] == 3 and [a["http_status"] for a in delivery["attempt_log"]] == [500, 503, 204]
    for headers, body in arrived:
        Webhook(endpoint["secret"]).verify(body, headers)


def test_a_job_naming_an_endpoint_is_delivered_only_there(jobs_gateway, jobs_key):
    name, secret = jobs_key
    with running_receiver() as chosen, running_receiver() as other:
        first = register(jobs_gateway, chosen.url, name)
        second = register(jobs_gateway, other.url, name)
        job = submit(jobs_gateway, secret, prompt="only there", webhook=first["id"])
        [(headers, body)] = chosen.wait_for(1)
        assert Webhook(first["secret"]).verify(body, headers)["data"]["id"] == job["id"]
    assert deliveries(jobs_gateway, second["id"]) == []


def test_webhooks_never_reach_private_addresses_directly_or_by_redirect(jobs_gateway, jobs_key):
    name, secret = jobs_key
    private = register(jobs_gateway, "http://10.11.12.13/hook", name)
    with running_receiver() as redirector:
        redirector.answers = [307, 307, 307]
        redirector.redirect_to = "http://169.254.169.254/latest/meta-data"
        redirecting = register(jobs_gateway, redirector.url, name)
        submit(jobs_gateway, secret, prompt="ssrf")
        [blocked] = deliveries(jobs_gateway, private["id"], until="failed")
        [redirected] = deliveries(jobs_gateway, redirecting["id"], until="failed")
    assert blocked["attempts"] == 3
    assert all(a["http_status"] is None and a["error"].startswith("blocked") for a in blocked["attempt_log"])
    assert "10.11.12.13" in blocked["attempt_log"][0]["error"]
    assert all(a["error"].startswith("blocked") and "169.254.169.254" in a["error"] for a in redirected["attempt_log"])
    assert len(redirector.received) == 3  # the receiver was asked; the redirect target never was


def test_admin_api_refuses_bad_endpoints(jobs_gateway, jobs_key):
    name, _ = jobs_key
    for body, param in [
        ({"url": "ftp://example.com/x", "key": name}, "url"),
        ({"url": "https://example.com/x", "key": "no-such-key"}, "key"),
        ({"url": "https://example.com/x", "key": name, "events": ["image.job.done"]}, "events"),
    ]:
        answer = httpx.post(f"{jobs_gateway.url}/admin/webhooks", json=body, headers=ADMIN)
        assert answer.status_code == 400 and answer.json()["error"]["param"] == param, answer.text
    created = register(jobs_gateway, "https://example.com/hook", name)
    assert httpx.delete(f"{jobs_gateway.url}/admin/webhooks/{created['id']}", headers=ADMIN).status_code == 200
    assert httpx.delete(f"{jobs_gateway.url}/admin/webhooks/{created['id']}", headers=ADMIN).status_code == 404


def test_the_cli_creates_lists_and_shows_deliveries(tmp_path, monkeypatch):
    engine = migrated_sqlite_engine(tmp_path / "cli.db")
    monkeypatch.setenv("IMAGEGATE_DATABASE_URL", str(engine.url))
    monkeypatch.setenv("IMAGEGATE_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    key_name = f"hooks-{uuid.uuid4().hex[:6]}"
    assert runner.invoke(app, ["keys", "create", "--name", key_name]).exit_code == 0
    created = runner.invoke(
        app,
        [
            "webhooks",
            "create",
            "--url",
            "https://example.com/h",
            "--key",
            key_name,
            "--events",
            "image.job.completed,image.job.failed",
            "--json",
        ],
    )
    assert created.exit_code == 0, created.output
    endpoint = json.loads(created.stdout)
    assert endpoint["secret"].startswith("whsec_") and endpoint["events"] == ["image.job.completed", "image.job.failed"]
    listed = runner.invoke(app, ["webhooks", "list", "--json"])
    assert [e["id"] for e in json.loads(listed.stdout)] == [endpoint["id"]] and endpoint["secret"] not in listed.stdout
    assert json.loads(runner.invoke(app, ["webhooks", "deliveries", "--json"]).stdout) == []
    unknown_team = runner.invoke(app, ["webhooks", "create", "--url", "https://example.com/h", "--team", "t"])
    assert unknown_team.exit_code != 0 and "no team named 't'" in unknown_team.output
    assert runner.invoke(app, ["teams", "create", "design"]).exit_code == 0
    for_team = runner.invoke(
        app, ["webhooks", "create", "--url", "https://example.com/team-hook", "--team", "design", "--json"]
    )
    assert for_team.exit_code == 0, for_team.output
    team_endpoint = json.loads(for_team.stdout)
    assert team_endpoint["team_id"] is not None and team_endpoint["key_id"] is None
    # Nothing secret is stored: the secret is derived from the signing key when needed.
    with engine.connect() as conn:
        assert endpoint["secret"] not in str(list(conn.exec_driver_sql("SELECT * FROM webhook_endpoints")))
    engine.dispose()
