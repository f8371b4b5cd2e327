"""The console in headless Chromium: sign in, every page with real data, the spend table against
the report API, a route disabled from the console, sign-out. Screenshots go to test-artifacts/console/."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.web.conftest import ALIAS, ARTIFACTS, FIRST_ROUTE, MASTER_KEY, ROUTE_SECRET, SECOND_ROUTE, ConsoleGateway

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def page(browser: Any, console_gateway: ConsoleGateway) -> Iterator[Any]:
    """A fresh browser context (its own cookies), signed in through the form with the master key."""
    context = browser.new_context(viewport=DESKTOP, base_url=console_gateway.url)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    tab.on("pageerror", lambda error: problems.append(str(error)))
    tab.goto("/console")
    assert tab.url.endswith("/console/sign-in")
    tab.get_by_label("Master key or admin key").fill(MASTER_KEY)
    tab.keyboard.press("Enter")  # keyboard only
    tab.wait_for_url("**/console/overview")
    yield tab
    context.close()
    assert problems == []  # no script error, no Content-Security-Policy violation


def test_every_page_renders_real_data(page: Any, console_gateway: ConsoleGateway):
    page.keyboard.press("Tab")  # the first stop from the keyboard skips the navigation
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    overview = page.locator("[data-figure=images-today]").inner_text()
    assert int(overview) >= 3
    assert page.locator("[data-figure=success-rate]").inner_text().endswith("%")
    assert page.locator("#spend-by-model").is_visible()
    assert page.evaluate("typeof Chart") == "function"  # the vendored Chart.js, served from the package
    assert page.evaluate("Object.keys(Chart.instances).length") == 3  # spend by team and by model, images by route
    assert (
        page.locator("#top-errors").inner_text().count("upstream")
        + page.locator("#top-errors").inner_text().count("server")
        >= 1
    )
    page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)

    page.get_by_role("link", name="Spend").click()
    page.wait_for_url("**/console/spend")
    assert page.locator("#spend tbody tr").count() >= 2
    page.screenshot(path=str(ARTIFACTS / "spend.png"), full_page=True)

    page.get_by_role("link", name="Requests", exact=True).click()
    page.wait_for_url("**/console/requests")
    assert page.locator("#attempts tbody tr").count() >= 4
    page.get_by_role("link", name=console_gateway.request_ids[0]).first.click()
    page.wait_for_url(f"**/console/requests/{console_gateway.request_ids[0]}")
    assert "Provider request id" in page.content()
    page.screenshot(path=str(ARTIFACTS / "request.png"), full_page=True)

    page.get_by_role("link", name="Routes").click()
    page.wait_for_url("**/console/routes")
    assert page.locator(f'tr[data-route="{FIRST_ROUTE}"]').count() == 1
    page.screenshot(path=str(ARTIFACTS / "routes.png"), full_page=True)

    page.get_by_role("link", name="Keys").click()
    page.wait_for_url("**/console/keys")
    assert page.locator('tr[data-key="console-client"]').count() == 1
    page.screenshot(path=str(ARTIFACTS / "keys.png"), full_page=True)

    page.get_by_role("link", name="Catalog").click()
    page.wait_for_url("**/console/catalog")
    page.get_by_label("Exact model id (alias or provider id)").fill("gpt-image-2")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/console/catalog?model=gpt-image-2")
    assert page.locator('section[data-model="gpt-image-2"]').count() >= 1
    page.screenshot(path=str(ARTIFACTS / "catalog.png"), full_page=True)

    page.set_viewport_size(PHONE)
    for name in ("overview", "spend", "requests", "routes", "keys", "teams", "catalog"):
        page.goto(f"/console/{name}")
        html = page.content()
        assert MASTER_KEY not in html and console_gateway.client_key not in html and ROUTE_SECRET not in html
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], name  # nothing wider than the phone: tables scroll inside their boxes
        page.screenshot(path=str(ARTIFACTS / f"{name}-phone.png"), full_page=True)

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/sign-in")
    page.goto("/console/keys")
    assert "/console/sign-in" in page.url


def test_spend_page_equals_the_report_api(page: Any, console_gateway: ConsoleGateway):
    since, until = "2026-01-01T00:00:00+00:00", "2031-01-01T00:00:00+00:00"
    page.goto("/console/spend")
    page.get_by_label("By").select_option("route")
    page.get_by_label("Since (inclusive; ISO time or 7d, 24h)").fill(since)
    page.get_by_label("Until (exclusive; empty: now)").fill(until)
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**by=route**")
    shown = page.locator("#spend tbody tr").evaluate_all(
        "rows => rows.map(r => Object.fromEntries([...r.querySelectorAll('td')].map(td => [td.dataset.col, td.innerText])))"
    )
    total = page.locator("#spend tfoot td").evaluate_all(
        "cells => Object.fromEntries(cells.map(td => [td.dataset.col, td.innerText]))"
    )
    report = httpx.get(
        console_gateway.url + "/api/report",
        params={"by": "route", "since": since, "until": until},
        headers={"authorization": f"Bearer {MASTER_KEY}"},
    ).json()

    def text(value: object) -> str:
        return "—" if value is None else str(value)

    assert shown == [{column: text(row[column]) for column in report["columns"]} for row in report["rows"]]
    assert total == {column: text(value) for column, value in report["total"].items()}
    assert any(row["route"] == FIRST_ROUTE for row in report["rows"])


def test_a_route_disabled_from_the_console_stops_receiving_traffic(page: Any, console_gateway: ConsoleGateway):
    def served_by() -> str:
        answer = httpx.post(
            console_gateway.url + "/v1/images/generations",
            headers={"authorization": f"Bearer {console_gateway.client_key}"},
            json={"model": ALIAS, "prompt": "which route", "quality": "low", "size": "1024x1024"},
            timeout=30,
        )
        assert answer.status_code == 200
        return answer.headers["x-imagegate-route"]

    assert served_by() == FIRST_ROUTE
    page.goto("/console/routes")
    page.locator(f'tr[data-route="{FIRST_ROUTE}"]').get_by_role("link", name="Disable").click()
    page.wait_for_url("**/console/routes/confirm?**")
    assert FIRST_ROUTE in page.locator("main").inner_text()
    page.get_by_role("button", name="Disable route").click()
    page.wait_for_url("**/console/routes")
    assert "disabled" in page.locator(f'tr[data-route="{FIRST_ROUTE}"]').inner_text()
    assert "console:master" in page.locator("#changes").inner_text()
    assert [served_by() for _ in range(3)] == [SECOND_ROUTE] * 3
    page.screenshot(path=str(ARTIFACTS / "routes-after-disable.png"), full_page=True)

    # Undo it from the console too, so the module's other tests see the configured routing.
    page.get_by_role("link", name=f"Roll back the last change of {ALIAS}").click()
    page.wait_for_url("**/console/routes/confirm?**")
    page.get_by_role("button", name="Roll back").click()
    page.wait_for_url("**/console/routes")
    assert served_by() == FIRST_ROUTE


def test_keys_and_teams_are_made_rotated_and_revoked_from_the_console(page: Any, console_gateway: ConsoleGateway):
    url, team, key = console_gateway.url, f"team-{uuid.uuid4().hex[:6]}", f"key-{uuid.uuid4().hex[:6]}"
    api = httpx.Client(base_url=url, headers={"authorization": f"Bearer {MASTER_KEY}"})

    def works(secret: str) -> int:
        return httpx.get(url + "/v1/models", headers={"authorization": f"Bearer {secret}"}).status_code

    page.goto("/console/teams")
    page.get_by_label("Name").fill(team)
    page.get_by_label("Budget (USD)").fill("0.50")
    page.get_by_label("Image quota").fill("20")
    page.get_by_label("Quota period").select_option("day")
    page.get_by_role("button", name="Create team…").click()
    page.wait_for_url("**/console/teams/confirm-create?**")
    assert "budget $0.500000 per month, image quota 20 per day" in page.locator("main").inner_text()
    page.get_by_role("button", name="Create team").click()
    page.wait_for_url("**/console/teams")

    page.goto("/console/keys")
    page.get_by_label("Name").fill(key)
    page.get_by_label("Team").select_option(team)
    page.get_by_label("Budget (USD)").fill("0.25")
    page.get_by_role("button", name="Create key…").click()
    page.wait_for_url("**/console/keys/confirm-create?**")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-secret").inner_text()
    assert secret.startswith("ig-") and works(secret) == 200
    page.screenshot(path=str(ARTIFACTS / "keys-created.png"), full_page=True)

    answer = httpx.post(
        url + "/v1/images/generations",
        headers={"authorization": f"Bearer {secret}"},
        json={"model": "gpt-image-2", "prompt": "a kite", "quality": "low", "size": "1024x1024", "n": 2},
        timeout=30,
    )
    assert answer.status_code == 200
    assert console_gateway.handle.runtime.ledger.wait_idle(10.0)

    def shown(row: Any, figure: str) -> str:
        return row.locator(f"[data-figure={figure}]").inner_text().strip()

    [by_key] = [r for r in api.get("/admin/spend", params={"by": "key"}).json()["data"] if r["key"] == key]
    page.goto("/console/keys")
    row = page.locator(f'tr[data-key="{key}"]')
    assert secret not in page.content()  # shown once
    assert shown(row, "remaining-usd") == "$" + by_key["remaining_usd"]
    assert shown(row, "spend") == "$" + by_key["spend_usd"]
    [by_team] = [r for r in api.get("/admin/spend", params={"by": "team"}).json()["data"] if r["team"] == team]
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Teams").click()
    page.wait_for_url("**/console/teams")
    team_row = page.locator(f'tr[data-team="{team}"]')
    assert shown(team_row, "remaining-usd") == "$" + by_team["remaining_usd"]
    assert shown(team_row, "remaining-images") == str(by_team["remaining_images"]) == "18"
    assert shown(team_row, "active-keys") == "1"
    page.screenshot(path=str(ARTIFACTS / "teams.png"), full_page=True)

    page.goto("/console/keys")
    page.locator(f'tr[data-key="{key}"]').get_by_role("link", name="Rotate").click()
    page.wait_for_url("**/console/keys/confirm-rotate?**")
    page.get_by_label("Old secret keeps working for").select_option("0")
    page.get_by_role("button", name="Rotate key").click()
    rotated = page.locator("#new-secret").inner_text()
    assert rotated != secret and (works(secret), works(rotated)) == (401, 200)

    page.goto("/console/keys")
    page.locator(f'tr[data-key="{key}"]').get_by_role("link", name="Revoke").click()
    page.wait_for_url("**/console/keys/confirm-revoke?**")
    assert page.evaluate("document.activeElement.textContent") == "Revoke key"  # focused: Enter confirms
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/keys")
    assert "revoked" in page.locator(f'tr[data-key="{key}"]').inner_text()
    assert works(rotated) == 401
    api.close()


def test_a_keys_team_is_changed_from_the_console(page: Any, console_gateway: ConsoleGateway):
    team, key = f"team-{uuid.uuid4().hex[:6]}", f"key-{uuid.uuid4().hex[:6]}"
    api = httpx.Client(base_url=console_gateway.url, headers={"authorization": f"Bearer {MASTER_KEY}"})
    assert api.post("/admin/teams", json={"name": team}).status_code == 201
    assert api.post("/admin/keys", json={"name": key}).status_code == 201

    page.goto("/console/keys")
    page.locator(f'tr[data-key="{key}"]').get_by_role("link", name="Edit").click()
    page.wait_for_url("**/console/keys/edit?**")
    assert page.get_by_label("Team").input_value() == ""  # no team yet
    page.get_by_label("Team").select_option(team)
    page.screenshot(path=str(ARTIFACTS / "key-edit.png"), full_page=True)
    page.get_by_role("button", name="Review change").click()
    page.wait_for_url("**/console/keys/confirm-edit?**")
    assert f"team {team} (was no team), role client, models all models?" in page.locator("main").inner_text()
    assert api.get(f"/admin/keys/{key}").json()["team"] is None  # nothing stored before confirming
    page.screenshot(path=str(ARTIFACTS / "key-edit-confirm.png"), full_page=True)
    page.get_by_role("button", name="Save key").click()
    page.wait_for_url("**/console/keys")
    assert team in page.locator(f'tr[data-key="{key}"]').inner_text()
    assert api.get(f"/admin/keys/{key}").json()["team"] == team
    api.close()
