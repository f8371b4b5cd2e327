"""The admin routing API behind ``IMAGEGATE_MASTER_KEY``, on a real gateway server."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import pytest

from imagegate.routing.control_store import RouteCheck
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import running_gateway

MASTER = "mk-routes-51c2"
FIRST, SECOND = "duo/openai/gpt-image-2", "duo/openai/gpt-image-2.5-flare"


def _config(sandbox_url: str) -> dict:
    def route(model: str, **extra) -> dict:
        return {"provider": "openai", "model": model, "base_url": f"{sandbox_url}/v1", "api_key": "sk-x", **extra}

    return {
        "models": [
            {"name": "duo", "routes": [route("gpt-image-2"), route("gpt-image-2.5-flare", weight=3)]},
            {"name": "solo", "policy": "cheapest", "routes": [route("gpt-image-2")]},
        ]
    }


@pytest.fixture(scope="module")
def routes_gateway(sandbox_url, tmp_path_factory):
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("admin-routes") / "r.db")
    with running_gateway(engine, _config(sandbox_url), master_key=MASTER) as handle:
        yield handle
    engine.dispose()


def admin(handle, method: str, path: str, token: str | None = MASTER, **kwargs) -> httpx.Response:
    headers = kwargs.pop("headers", {})
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return httpx.request(method, handle.url + path, headers=headers, **kwargs)


def _route_row(handle, name: str) -> dict:
    data = admin(handle, "GET", "/admin/routes").json()["data"]
    return next(row for alias in data for row in alias["routes"] if row["route"] == name)


def test_overview_lists_every_alias_and_route_with_config_and_status(routes_gateway):
    response = admin(routes_gateway, "GET", "/admin/routes")
    assert response.status_code == 200 and response.headers["x-request-id"]
    duo, solo = response.json()["data"]
    assert (duo["alias"], duo["policy"], solo["policy"]) == ("duo", "priority", "cheapest")
    second = duo["routes"][1]
    assert (second["route"], second["provider"], second["provider_model"]) == (SECOND, "openai", "gpt-image-2.5-flare")
    assert second["configured"] == {"enabled": True, "weight": 3.0} and "status" in second and "p95_ms" in second


def test_disable_enable_weight_policy_rollback_and_the_log(routes_gateway):
    encoded = quote(SECOND, safe="")
    actor = {"x-imagegate-actor": "ops-bot"}
    disabled = admin(routes_gateway, "POST", f"/admin/routes/{encoded}/disable", headers=dict(actor))
    assert disabled.status_code == 200
    assert (disabled.json()["action"], disabled.json()["actor"], disabled.json()["after"]["enabled"]) == (
        "disable",
        "api:ops-bot",
        False,
    )
    row = _route_row(routes_gateway, SECOND)
    assert (row["enabled"], row["override"]["enabled"]) == (False, False)

    # Unencoded slashes reach the same route.
    assert admin(routes_gateway, "POST", f"/admin/routes/{SECOND}/enable").json()["after"]["enabled"] is True
    weighted = admin(routes_gateway, "POST", f"/admin/routes/{encoded}/weight", json={"weight": 0.25})
    assert weighted.json()["after"] == {"enabled": True, "weight": 0.25}
    assert admin(routes_gateway, "POST", "/admin/aliases/duo/policy", json={"policy": "weighted"}).status_code == 200
    assert admin(routes_gateway, "GET", "/admin/routes").json()["data"][0]["policy"] == "weighted"

    rolled = admin(routes_gateway, "POST", "/admin/aliases/duo/rollback")
    assert rolled.json()["after"] == {"policy": None}
    admin(routes_gateway, "POST", "/admin/aliases/duo/rollback")
    assert _route_row(routes_gateway, SECOND)["weight"] == 3.0  # back to the config's weight

    log = admin(routes_gateway, "GET", "/admin/routing-changes", params={"alias": "duo"}).json()["data"]
    assert [entry["action"] for entry in log] == ["rollback", "rollback", "policy", "reweight", "enable", "disable"]
    assert log[0]["reverts"] == log[3]["id"] and log[-1]["actor"] == "api:ops-bot"
    assert len(admin(routes_gateway, "GET", "/admin/routing-changes", params={"limit": "2"}).json()["data"]) == 2


def test_errors_name_the_problem(routes_gateway):
    unknown = admin(routes_gateway, "POST", "/admin/routes/duo%2Fopenai%2Fnope/disable")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "route_not_found"
    assert admin(routes_gateway, "POST", "/admin/aliases/nope/policy", json={"policy": "cheapest"}).status_code == 404
    for body in ({"weight": -1}, {"weight": "2"}, {"weight": True}, {"weight": 1, "extra": 1}, {}):
        bad = admin(routes_gateway, "POST", f"/admin/routes/{FIRST}/weight", json=body)
        assert bad.status_code == 400, body
    bad_policy = admin(routes_gateway, "POST", "/admin/aliases/solo/policy", json={"policy": "random"})
    assert bad_policy.status_code == 400 and bad_policy.json()["error"]["param"] == "policy"
    nothing = admin(routes_gateway, "POST", "/admin/aliases/solo/rollback")
    assert nothing.status_code == 409 and nothing.json()["error"]["code"] == "nothing_to_roll_back"
    assert admin(routes_gateway, "GET", "/admin/routing-changes", params={"limit": "0"}).status_code == 400


def test_master_key_is_required(routes_gateway, gateway):
    assert admin(routes_gateway, "GET", "/admin/routes", token=None).status_code == 401
    assert admin(routes_gateway, "POST", f"/admin/routes/{FIRST}/disable", token="wrong").status_code == 401
    assert _route_row(routes_gateway, FIRST)["override"]["enabled"] is None
    assert admin(gateway, "GET", "/admin/routes", token="anything").status_code == 404  # no master key configured


def test_pricing_and_overview_show_the_stored_route_status(routes_gateway):
    checked_at = datetime(2026, 11, 21, 8, 30, tzinfo=UTC)
    routes_gateway.runtime.routing.record_check(
        RouteCheck(FIRST, "unsupported", checked_at, error_code="upstream_not_found")
    )
    key = routes_gateway.create_key("pricing-reader")
    rows = httpx.get(routes_gateway.url + "/api/pricing", headers={"authorization": f"Bearer {key}"}).json()["models"]
    first = next(row for row in rows if row["route"] == FIRST)
    assert (first["status"], first["last_checked_at"]) == ("unsupported", checked_at.isoformat())
    assert next(row for row in rows if row["route"] == "solo/openai/gpt-image-2")["status"] == "unknown"
    row = _route_row(routes_gateway, FIRST)
    assert row["status"] == "unsupported" and row["last_check"]["error_code"] == "upstream_not_found"
