"""Keys and teams in the console over plain HTTP: create (the secret shown once), rotate, revoke and
limits, each behind a confirmation page and a CSRF token; the remaining budget and images equal
``/admin/spend``; the team dimension of the overview, spend and requests pages."""

from __future__ import annotations

import html
import re
import uuid

import httpx
import pytest

from tests.web.conftest import MASTER_KEY, ConsoleGateway, csrf_of, signed_in_client


def _secret(html: str) -> str:
    found = re.search(r'id="new-secret">([^<]+)<', html)
    assert found is not None, "no secret on the page"
    return found.group(1)


def _hidden_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html))


def _models_status(url: str, secret: str) -> int:
    return httpx.get(url + "/v1/models", headers={"authorization": f"Bearer {secret}"}).status_code


def _figure(row_html: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">(.*?)</(?:td|span)>', row_html, re.S)
    assert found is not None, name
    return found.group(1).strip()


def _row(html: str, attribute: str, name: str) -> str:
    return html.split(f'<tr {attribute}="{name}"', 1)[1].split("</tr>", 1)[0]


@pytest.fixture
def team_key(console_gateway: ConsoleGateway, admin: httpx.Client) -> tuple[str, str, str]:
    """A team and a key in it, both made through the console's confirmation pages; (team, key, secret)."""
    team, key = f"t-{uuid.uuid4().hex[:6]}", f"k-{uuid.uuid4().hex[:6]}"
    confirm = admin.get(
        "/console/teams/confirm-create",
        params={
            "name": team,
            "budget_usd": "0.20",
            "budget_period": "month",
            "image_quota": "9",
            "quota_period": "day",
        },
    )
    assert confirm.status_code == 200 and "budget $0.200000 per month, image quota 9 per day" in confirm.text
    assert admin.get("/console/teams").text.count(f'data-team="{team}"') == 0  # nothing stored before confirming
    created = admin.post("/console/teams", data=_hidden_fields(confirm.text))
    assert created.status_code == 303
    confirm = admin.get(
        "/console/keys/confirm-create",
        params={"name": key, "team": team, "role": "client", "budget_usd": "0.10", "budget_period": "month"},
    )
    assert confirm.status_code == 200 and f"Create key '{key}' ({team}" in html.unescape(confirm.text)
    for bad, named in (({"team": "no-such-team"}, "No team named"), ({"role": "owner"}, "'role' must be one of")):
        refused = admin.get("/console/keys/confirm-create", params={"name": key, **bad})
        assert refused.status_code == 400 and named in html.unescape(refused.text)
    answer = admin.post("/console/keys", data=_hidden_fields(confirm.text))
    assert answer.status_code == 201
    return team, key, _secret(answer.text)


def test_remaining_budget_and_images_equal_the_admin_api(
    console_gateway: ConsoleGateway, admin: httpx.Client, team_key: tuple[str, str, str]
):
    team, key, secret = team_key
    url = console_gateway.url
    ids = []
    for n in (1, 2):
        answer = httpx.post(
            url + "/v1/images/generations",
            headers={"authorization": f"Bearer {secret}"},
            json={"model": "gpt-image-2", "prompt": "a kite", "quality": "low", "size": "1024x1024", "n": n},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        ids.append(answer.headers["x-request-id"])
    assert console_gateway.handle.runtime.ledger.wait_idle(10.0)
    api = httpx.Client(base_url=url, headers={"authorization": f"Bearer {MASTER_KEY}"})
    [team_line] = [r for r in api.get("/admin/spend", params={"by": "team"}).json()["data"] if r["team"] == team]
    [key_line] = [r for r in api.get("/admin/spend", params={"by": "key"}).json()["data"] if r["key"] == key]
    assert team_line["images"] == 3 and team_line["remaining_images"] == 6 and team_line["remaining_usd"] is not None

    teams_row = _row(admin.get("/console/teams").text, "data-team", team)
    assert _figure(teams_row, "spend") == "$" + team_line["spend_usd"]
    assert _figure(teams_row, "remaining-usd") == "$" + team_line["remaining_usd"]
    assert _figure(teams_row, "images") == "3"
    assert _figure(teams_row, "remaining-images") == str(team_line["remaining_images"])
    keys_row = _row(admin.get("/console/keys").text, "data-key", key)
    assert _figure(keys_row, "spend") == "$" + key_line["spend_usd"]
    assert _figure(keys_row, "remaining-usd") == "$" + key_line["remaining_usd"]
    assert _figure(keys_row, "remaining-images") == "no quota"

    # The team dimension: the explorer filters by team, spend groups by it, the overview charts it.
    found = admin.get("/console/requests", params={"team": team}).text
    assert sorted(set(re.findall(r'<a href="/console/requests/([^"]+)">', found))) == sorted(ids)
    by_team = admin.get("/console/spend?by=team").text
    assert f'<td class="" data-col="team">{team}</td>' in by_team
    overview = admin.get("/console/overview").text
    assert f">{team}</th>" in overview.split('id="spend-by-team-table"', 1)[1].split("</table>", 1)[0]
    api.close()


def test_rotate_shows_the_new_secret_once_and_the_old_one_stops(
    console_gateway: ConsoleGateway, admin: httpx.Client, team_key: tuple[str, str, str]
):
    _, key, old = team_key
    confirm = admin.get("/console/keys/confirm-rotate", params={"name": key})
    assert confirm.status_code == 200 and 'name="grace"' in confirm.text
    token = csrf_of(confirm.text)
    assert admin.post("/console/keys/rotate", data={"name": key, "grace": "0"}).status_code == 403  # no token
    assert _models_status(console_gateway.url, old) == 200
    rotated = admin.post("/console/keys/rotate", data={"name": key, "grace": "0", "csrf": token})
    assert rotated.status_code == 201 and "The old secret no longer works" in rotated.text
    new = _secret(rotated.text)
    assert new != old and old not in rotated.text
    assert (_models_status(console_gateway.url, old), _models_status(console_gateway.url, new)) == (401, 200)
    assert new not in admin.get("/console/keys").text  # shown once
    assert admin.post("/console/keys/rotate", data={"name": key, "grace": "5y", "csrf": token}).status_code == 400

    graced = admin.post("/console/keys/rotate", data={"name": key, "grace": "1h", "csrf": token})
    assert graced.status_code == 201 and "The old secret keeps working until" in graced.text
    newest = _secret(graced.text)
    assert (_models_status(console_gateway.url, new), _models_status(console_gateway.url, newest)) == (200, 200)

    # No page shows a secret again: not the lists, the limit form or the confirmation pages.
    for path in (
        "/console/keys",
        "/console/teams",
        f"/console/keys/edit-limits?name={key}",
        f"/console/keys/confirm-rotate?name={key}",
        f"/console/keys/confirm-revoke?name={key}",
        "/console/overview",
        "/console/requests",
    ):
        page = admin.get(path)
        assert page.status_code == 200 and all(s not in page.text for s in (old, new, newest, MASTER_KEY)), path

    confirm = admin.get("/console/keys/confirm-revoke", params={"name": key})
    assert admin.post("/console/keys/revoke", data={"name": key, "csrf": csrf_of(confirm.text)}).status_code == 303
    assert (_models_status(console_gateway.url, new), _models_status(console_gateway.url, newest)) == (401, 401)


def test_limits_change_after_confirmation_and_bad_values_are_named_first(
    console_gateway: ConsoleGateway, admin: httpx.Client, team_key: tuple[str, str, str]
):
    team, key, _ = team_key
    form = admin.get("/console/teams/edit-limits", params={"name": team})
    assert form.status_code == 200 and 'value="0.200000"' in form.text
    bad = admin.get("/console/teams/confirm-limits", params={"name": team, "image_quota": "lots"})
    assert bad.status_code == 400 and "image_quota" in bad.text
    fields = {"name": team, "budget_usd": "3", "budget_period": "week", "image_quota": "", "quota_period": "day"}
    confirm = admin.get("/console/teams/confirm-limits", params={**fields, "rpm": "30", "alert_thresholds": "50,100"})
    assert confirm.status_code == 200 and "budget $3.000000 per week, image quota none, rpm 30" in confirm.text
    assert admin.post("/console/teams/limits", data=_hidden_fields(confirm.text)).status_code == 303
    shown = httpx.get(
        f"{console_gateway.url}/admin/teams/{team}", headers={"authorization": f"Bearer {MASTER_KEY}"}
    ).json()
    assert shown["limits"]["budget_usd"] == "3.000000" and shown["limits"]["budget_period"] == "week"
    assert shown["limits"]["image_quota"] is None and shown["limits"]["rpm"] == 30
    assert shown["alert_thresholds"] == [50, 100]

    confirm = admin.get("/console/keys/confirm-limits", params={"name": key, "image_quota": "4", "quota_period": "day"})
    assert admin.post("/console/keys/limits", data=_hidden_fields(confirm.text)).status_code == 303
    key_view = httpx.get(
        f"{console_gateway.url}/admin/keys/{key}", headers={"authorization": f"Bearer {MASTER_KEY}"}
    ).json()
    assert key_view["limits"]["image_quota"] == 4


def test_admin_read_sees_keys_and_teams_but_cannot_change_them(
    console_gateway: ConsoleGateway, team_key: tuple[str, str, str]
):
    team, key, _ = team_key
    name = f"reader-{uuid.uuid4().hex[:6]}"
    reader = console_gateway.handle.create_key(name)
    made = httpx.patch(
        f"{console_gateway.url}/admin/keys/{name}",
        json={"role": "admin-read"},
        headers={"authorization": f"Bearer {MASTER_KEY}"},
    )
    assert made.status_code == 200
    client = signed_in_client(console_gateway.url, reader)
    teams = client.get("/console/teams")
    assert teams.status_code == 200 and f'data-team="{team}"' in teams.text and "Create a team" not in teams.text
    keys = client.get("/console/keys")
    assert f'data-key="{key}"' in keys.text and "confirm-rotate" not in keys.text
    token = csrf_of(keys.text)
    for path, data in (("/console/keys/rotate", {"name": key, "grace": "0"}), ("/console/teams", {"name": "x"})):
        refused = client.post(path, data={**data, "csrf": token})
        assert refused.status_code == 403 and "admin-read" in refused.text
    client.close()
