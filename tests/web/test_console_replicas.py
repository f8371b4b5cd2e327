"""A route disabled from one replica's console steers another replica over the same database
(within its controls refresh), and the change log on the other replica names the console's user."""

from __future__ import annotations

import time

import httpx

from imagegate.store.database import make_engine
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import GatewayHandle, running_gateway
from tests.web.conftest import FIRST_ROUTE, MASTER_KEY, SECOND_ROUTE, console_config, csrf_of, signed_in_client

REFRESH_S = 0.1


def _served_by(handle: GatewayHandle, secret: str) -> str:
    answer = httpx.post(
        handle.url + "/v1/images/generations",
        headers={"authorization": f"Bearer {secret}"},
        json={"model": "console-image", "prompt": "x", "size": "1024x1024", "quality": "low"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.headers["x-imagegate-route"])


def _wait_until_enabled_is(handle: GatewayHandle, route: str, enabled: bool) -> None:
    deadline = time.monotonic() + 10  # the refresh interval plus slack for a loaded machine
    while handle.runtime.controls.current.enabled(route) is not enabled:
        assert time.monotonic() < deadline, "the other replica never picked up the console's change"
        time.sleep(0.02)


def _apply(console: httpx.Client, **query: str) -> None:
    confirm = console.get("/console/routes/confirm", params=query)
    assert confirm.status_code == 200
    applied = console.post("/console/routes/apply", data={**query, "csrf": csrf_of(confirm.text)})
    assert applied.status_code == 303


def test_a_route_disabled_in_one_console_steers_every_replica(sandbox_url: str, tmp_path):
    path = tmp_path / "shared.db"
    engine_a, engine_b = migrated_sqlite_engine(path), make_engine(f"sqlite:///{path}")
    config = console_config(sandbox_url)
    with (
        running_gateway(engine_a, config, master_key=MASTER_KEY, controls_refresh_s=REFRESH_S) as a,
        running_gateway(engine_b, config, master_key=MASTER_KEY, controls_refresh_s=REFRESH_S) as b,
    ):
        secret = b.create_key("replica-client")
        assert _served_by(b, secret) == FIRST_ROUTE
        console = signed_in_client(a.url, MASTER_KEY)
        _apply(console, action="disable", route=FIRST_ROUTE)
        _wait_until_enabled_is(b, FIRST_ROUTE, False)
        assert [_served_by(b, secret) for _ in range(2)] == [SECOND_ROUTE] * 2
        # The other replica's console shows the change and who made it.
        other = signed_in_client(b.url, MASTER_KEY)
        assert "console:master" in other.get("/console/routes").text.split('id="changes"', 1)[1]

        _apply(other, action="rollback", alias="console-image")
        _wait_until_enabled_is(a, FIRST_ROUTE, True)
        assert _served_by(a, secret) == FIRST_ROUTE
        console.close()
        other.close()
    engine_a.dispose()
    engine_b.dispose()
