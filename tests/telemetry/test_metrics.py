"""``GET /metrics`` after known traffic through a real gateway over the sandbox: every counter exact."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import GatewayHandle, running_gateway, sandbox_models_config
from tests.support.metrics import samples, value

MASTER = "ig-master-metrics-test"


def _config(sandbox_url: str) -> dict:
    document = sandbox_models_config(sandbox_url, ["gpt-image-2", "gpt-image-1-mini"])
    for model in document["models"]:
        model["retry"] = {"max_attempts_per_route": 1}  # one attempt per failing request: exact counts
    document["breaker"] = {"consecutive_failures": 10_000, "failure_rate": 1.0, "min_calls": 10_000}
    return document


@pytest.fixture(scope="module")
def metered(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHandle]:
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("metrics") / "imagegate.db")
    with running_gateway(engine, _config(sandbox_url), master_key=MASTER) as handle:
        yield handle
    engine.dispose()


def _generate(handle: GatewayHandle, key: str, **fields) -> httpx.Response:
    body = {"model": "gpt-image-2", "prompt": "a lighthouse", "size": "1024x1024", "quality": "low", **fields}
    return httpx.post(
        handle.url + "/v1/images/generations", json=body, headers={"authorization": f"Bearer {key}"}, timeout=30
    )


def test_counters_after_known_traffic_are_exact(metered: GatewayHandle):
    key = metered.create_key(f"metrics-{uuid.uuid4().hex[:8]}")
    before = samples(httpx.get(metered.url + "/metrics").text)
    ok = [_generate(metered, key), _generate(metered, key, n=2), _generate(metered, key, model="gpt-image-1-mini")]
    assert [answer.status_code for answer in ok] == [200, 200, 200]
    streamed = _generate(metered, key, stream=True, partial_images=1)  # reported when its last byte is sent
    assert streamed.status_code == 200 and "image_generation.completed" in streamed.text
    failed = _generate(metered, key, prompt="[sandbox:500] a lighthouse")
    assert failed.status_code == 502
    assert _generate(metered, key, size="1000x7").status_code == 400  # refused before any provider
    assert _generate(metered, key, model="dall-e-9").status_code == 400
    assert _generate(metered, "ig-not-a-key").status_code == 401
    answered = [*ok, streamed, failed]
    rows = {answer.headers["x-request-id"]: metered.ledger(answer.headers["x-request-id"]) for answer in answered}
    assert all(len(attempts) == 1 for attempts in rows.values())

    scrape = httpx.get(metered.url + "/metrics")
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    after = samples(scrape.text)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "imagegate_requests_total"
    assert delta(requests, model="gpt-image-2", team="none", outcome="ok") == 3
    assert delta(requests, model="gpt-image-1-mini", team="none", outcome="ok") == 1
    assert delta(requests, model="gpt-image-2", team="none", outcome="upstream_unavailable") == 1
    assert delta(requests, model="gpt-image-2", team="none", outcome="invalid_request") == 1
    assert delta(requests, model="other", team="none", outcome="model_not_found") == 1  # unknown names collapse
    assert delta(requests, model="none", team="none", outcome="invalid_api_key") == 1

    route2, route_mini = "gpt-image-2/openai/gpt-image-2", "gpt-image-1-mini/openai/gpt-image-1-mini"
    assert delta("imagegate_images_total", model="gpt-image-2", route=route2, team="none") == 4
    assert delta("imagegate_images_total", model="gpt-image-1-mini", route=route_mini, team="none") == 1
    attempts = "imagegate_attempts_total"
    assert delta(attempts, model="gpt-image-2", route=route2, outcome="ok", error_code="") == 3
    assert delta(attempts, model="gpt-image-2", route=route2, outcome="error", error_code="upstream_unavailable") == 1
    assert delta(attempts, model="gpt-image-1-mini", route=route_mini, outcome="ok", error_code="") == 1

    # Cost: integer micro-dollars, equal to the ledger's and to what the plain responses said they cost.
    streamed_cost = rows[streamed.headers["x-request-id"]][0].cost_micros
    for model, route in (("gpt-image-2", route2), ("gpt-image-1-mini", route_mini)):
        ledger = sum(row.cost_micros for attempts in rows.values() for row in attempts if row.route == route)
        headers = sum(
            Decimal(answer.headers["x-imagegate-cost-usd"]) * 1_000_000
            for answer in ok
            if answer.headers["x-imagegate-route"] == route
        )
        spent = delta("imagegate_cost_microusd_total", model=model, route=route, team="none")
        assert spent == ledger == headers + (streamed_cost if route == route2 else 0) > 0

    # One provider-latency observation per attempt, one added-latency per request that reached a provider.
    assert delta("imagegate_provider_latency_seconds_count", model="gpt-image-2", route=route2) == 4
    assert delta("imagegate_added_latency_seconds_count", model="gpt-image-2") == 4
    assert delta("imagegate_added_latency_seconds_count", model="gpt-image-1-mini") == 1
    provider_seconds = delta("imagegate_provider_latency_seconds_sum", model="gpt-image-1-mini", route=route_mini)
    assert provider_seconds == rows[ok[2].headers["x-request-id"]][0].latency_ms / 1000

    # Route state, read at scrape time.
    assert value(after, "imagegate_route_breaker_state", route=route2, state="closed") == 1
    assert value(after, "imagegate_route_breaker_state", route=route2, state="open") == 0
    assert value(after, "imagegate_route_enabled", route=route2) == 1
    assert value(after, "imagegate_route_status", route=route2, status="unknown") == 1

    # Bounded labels: no request id, key or prompt ever appears.
    for answer in answered:
        assert answer.headers["x-request-id"] not in scrape.text
    assert key not in scrape.text and "lighthouse" not in scrape.text and "dall-e-9" not in scrape.text


def test_a_disabled_route_shows_in_the_gauges(metered: GatewayHandle):
    route = "gpt-image-1-mini/openai/gpt-image-1-mini"
    admin = {"authorization": f"Bearer {MASTER}"}
    assert httpx.post(f"{metered.url}/admin/routes/{route}/disable", headers=admin).status_code == 200
    try:
        # The live controls refresh every 2 s; the gauge reads what routing uses.
        metered.runtime.controls.current = metered.runtime.routing.load_snapshot()
        found = samples(httpx.get(metered.url + "/metrics").text)
        assert value(found, "imagegate_route_enabled", route=route) == 0
    finally:
        assert httpx.post(f"{metered.url}/admin/routes/{route}/enable", headers=admin).status_code == 200
        metered.runtime.controls.current = metered.runtime.routing.load_snapshot()


def test_budget_and_quota_remaining_are_gauges_equal_to_admin_spend(metered: GatewayHandle):
    admin = httpx.Client(base_url=metered.url, headers={"authorization": f"Bearer {MASTER}"}, timeout=30)
    team = f"team-{uuid.uuid4().hex[:8]}"
    limits = {"budget_usd": "1.00", "image_quota": 10, "quota_period": "day"}
    assert admin.post("/admin/teams", json={"name": team, **limits}).status_code == 201
    limited = admin.post("/admin/keys", json={"name": f"{team}-web", "team": team, "budget_usd": "0.50"})
    assert limited.status_code == 201
    free_name = f"free-{uuid.uuid4().hex[:8]}"
    unlimited = metered.create_key(free_name)
    before = samples(httpx.get(metered.url + "/metrics").text)
    assert [_generate(metered, limited.json()["key"], n=n).status_code for n in (1, 2)] == [200, 200]
    assert _generate(metered, unlimited).status_code == 200
    assert metered.runtime.ledger.wait_idle(10.0)

    scrape = httpx.get(metered.url + "/metrics").text
    after = samples(scrape)
    [team_line] = [
        row for row in admin.get("/admin/spend", params={"by": "team"}).json()["data"] if row["team"] == team
    ]
    [key_line] = [
        row for row in admin.get("/admin/spend", params={"by": "key"}).json()["data"] if row["key"] == f"{team}-web"
    ]
    spent = Decimal(team_line["spend_usd"]) * 1_000_000
    assert spent > 0 and team_line["images"] == 3 and team_line["remaining_images"] == 7
    remaining = "imagegate_budget_remaining_microusd"
    assert value(after, remaining, holder="team", name=team, period="month") == 1_000_000 - spent
    assert (
        value(after, remaining, holder="team", name=team, period="month")
        == Decimal(team_line["remaining_usd"]) * 1_000_000
    )
    assert value(after, "imagegate_budget_limit_microusd", holder="team", name=team, period="month") == 1_000_000
    assert value(after, "imagegate_images_remaining", holder="team", name=team, period="day") == 7
    assert value(after, remaining, holder="key", name=f"{team}-web", period="month") == 500_000 - spent
    assert (
        value(after, remaining, holder="key", name=f"{team}-web", period="month")
        == Decimal(key_line["remaining_usd"]) * 1_000_000
    )
    # Holders without limits get no series; the team's requests are counted under its name.
    gauges = ("imagegate_budget_remaining_microusd", "imagegate_budget_limit_microusd", "imagegate_images_remaining")
    assert [labels for name, labels in after if name in gauges and ("name", free_name) in labels] == []
    assert unlimited not in scrape and limited.json()["key"] not in scrape
    assert value(after, "imagegate_limit_holders_omitted", holder="team") == 0
    delta = value(after, "imagegate_requests_total", model="gpt-image-2", team=team, outcome="ok") - value(
        before, "imagegate_requests_total", model="gpt-image-2", team=team, outcome="ok"
    )
    assert delta == 2
    admin.close()
