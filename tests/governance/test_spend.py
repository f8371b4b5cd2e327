"""``GET /admin/spend`` and ``imagegate spend``: spend from the ledger, reserved from admission's
live holds, remaining = limit - both; per team and per key."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal

import httpx
import pytest
from openai import OpenAI
from typer.testing import CliRunner

from imagegate.cli.main import app
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import running_gateway, sandbox_models_config, wait_for_calls_in_flight

MASTER = "mk-spend-9e1"


@pytest.fixture(scope="module")
def spend_gateway(sandbox_url, tmp_path_factory):
    path = tmp_path_factory.mktemp("spend") / "s.db"
    engine = migrated_sqlite_engine(path)
    with running_gateway(engine, sandbox_models_config(sandbox_url, ["gpt-image-2"]), master_key=MASTER) as handle:
        yield handle, path
    engine.dispose()


def admin(handle, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, handle.url + path, headers={"authorization": f"Bearer {MASTER}"}, **kwargs)


def row_of(handle, by: str, name: str, period: str | None = None) -> dict:
    query = f"?by={by}" + ("" if period is None else f"&period={period}")
    response = admin(handle, "GET", "/admin/spend" + query)
    assert response.status_code == 200, response.text
    return next(row for row in response.json()["data"] if row[by] == name)


def test_spend_reserved_and_remaining_per_team_and_key(spend_gateway, sandbox_url, monkeypatch):
    handle, path = spend_gateway
    admin(handle, "POST", "/admin/teams", json={"name": "studio", "budget_usd": "5", "image_quota": 50})
    created = admin(handle, "POST", "/admin/keys", json={"name": "studio-web", "team": "studio", "budget_usd": "2"})
    client = OpenAI(base_url=handle.url + "/v1", api_key=created.json()["key"], max_retries=0)
    client.images.generate(model="gpt-image-2", prompt="a fox", size="1024x1024", quality="low", n=2)
    assert handle.runtime.ledger.wait_idle(10)
    spent = sum(row.cost_micros for row in handle.ledger() if row.team == "studio")
    team = row_of(handle, "team", "studio")
    assert Decimal(team["spend_usd"]) * 1_000_000 == spent > 0
    assert (team["images"], team["reserved_usd"], team["reserved_images"]) == (2, "0.000000", 0)
    assert Decimal(team["remaining_usd"]) == Decimal(5) - Decimal(team["spend_usd"])
    assert team["remaining_images"] == 48
    key = row_of(handle, "key", "studio-web")
    assert key["team"] == "studio" and key["spend_usd"] == team["spend_usd"] and key["image_quota"] is None
    assert Decimal(key["remaining_usd"]) == Decimal(2) - Decimal(key["spend_usd"])
    # Another period than the limit's own: spend is shown, remaining is not (it would mean nothing).
    assert row_of(handle, "team", "studio", period="total")["remaining_usd"] is None

    # While a request is in flight its upper bound is held: reserved > 0, remaining shrinks by it.
    started = time.time()
    slow = threading.Thread(
        target=lambda: client.images.generate(
            model="gpt-image-2", prompt="[sandbox:slow=2] a fox", size="1024x1024", quality="low"
        )
    )
    slow.start()
    wait_for_calls_in_flight(sandbox_url, started, 1, "slow")
    in_flight = row_of(handle, "team", "studio")
    assert Decimal(in_flight["reserved_usd"]) > 0 and in_flight["reserved_images"] == 1
    monkeypatch.setenv("IMAGEGATE_DATABASE_URL", f"sqlite:///{path}")
    cli = CliRunner().invoke(app, ["spend", "--json"])
    assert cli.exit_code == 0, cli.output
    assert next(row for row in json.loads(cli.stdout) if row["team"] == "studio")["reserved_images"] == 1
    slow.join(10)
    assert handle.runtime.ledger.wait_idle(10)
    after = row_of(handle, "team", "studio")
    assert (after["reserved_usd"], after["reserved_images"], after["images"]) == ("0.000000", 0, 3)
    table = CliRunner().invoke(app, ["spend", "--by", "key"], env={"COLUMNS": "80"})
    assert table.exit_code == 0 and "studio-web" in table.stdout
    assert all(len(line) <= 80 for line in table.stdout.splitlines())


def test_bad_parameters_name_themselves(spend_gateway):
    handle, _ = spend_gateway
    for query, param in (("?by=model", "by"), ("?period=year", "period")):
        response = admin(handle, "GET", "/admin/spend" + query)
        assert response.status_code == 400 and response.json()["error"]["param"] == param
