"""Keys and teams in the console over plain HTTP: create (the secret shown once), edit (team, role,
models), rotate, revoke and limits, each behind a confirmation page and a CSRF token; the remaining budget and images equal
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
    for bad, named in (
        ({"team": "no-such-team"}, "no team named 'no-such-team'"),
        ({"role": "owner"}, "'role' must be one of"),
        ({"models": "dall-e-9"}, "unknown model 'dall-e-9'"),
    ):
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
    assert (
        f'data-key="{key}"' in keys.text
        and "confirm-rotate" not in keys.text
        and "/console/keys/edit?" not in keys.text
    )
    token = csrf_of(keys.text)
    for path, data in (
        ("/console/keys/rotate", {"name": key, "grace": "0"}),
        ("/console/teams", {"name": "x"}),
        ("/console/keys/edit", {"name": key, "team": "", "role": "admin", "models": "gpt-image-2"}),
        ("/console/keys/edit", {"name": name, "role": "admin"}),  # nor raise its own key
    ):
        refused = client.post(path, data={**data, "csrf": token})
        assert refused.status_code == 403 and "admin-read" in refused.text
    unchanged = [_key_json(console_gateway.url, k) for k in (key, name)]
    assert [(k["team"], k["role"], k["models"]) for k in unchanged] == [
        (team, "client", None),
        (None, "admin-read", None),
    ]
    client.close()


def _key_json(url: str, name: str) -> dict[str, object]:
    answer = httpx.get(f"{url}/admin/keys/{name}", headers={"authorization": f"Bearer {MASTER_KEY}"})
    assert answer.status_code == 200, answer.text
    found: dict[str, object] = answer.json()
    return found


def test_edit_changes_team_role_and_models_after_confirmation(
    console_gateway: ConsoleGateway, admin: httpx.Client, team_key: tuple[str, str, str]
):
    team, key, secret = team_key
    url = console_gateway.url
    other = f"t-{uuid.uuid4().hex[:6]}"
    made = httpx.post(f"{url}/admin/teams", json={"name": other}, headers={"authorization": f"Bearer {MASTER_KEY}"})
    assert made.status_code == 201
    assert f'href="/console/keys/edit?name={key}">Edit</a>' in _row(admin.get("/console/keys").text, "data-key", key)
    form = admin.get("/console/keys/edit", params={"name": key})
    assert form.status_code == 200
    assert f'<option value="{team}" selected>' in form.text and '<option value="client" selected>' in form.text
    assert (
        'name="models" value=""' in form.text and "Models this gateway serves: console-image, gpt-image-2." in form.text
    )

    confirm = admin.get(
        "/console/keys/confirm-edit", params={"name": key, "team": other, "role": "client", "models": "gpt-image-2"}
    )
    question = html.unescape(confirm.text)
    assert confirm.status_code == 200
    assert (
        f"Set key '{key}' to team {other} (was {team}), role client, models gpt-image-2 (was all models)?" in question
    )
    assert "its past spend stays with the team it was made in" in question
    assert _key_json(url, key)["team"] == team  # nothing stored before confirming
    fields = _hidden_fields(confirm.text)
    assert fields == {
        "csrf": csrf_of(confirm.text),
        "name": key,
        "team": other,
        "role": "client",
        "models": "gpt-image-2",
    }
    without_token = {name: value for name, value in fields.items() if name != "csrf"}
    assert admin.post("/console/keys/edit", data=without_token).status_code == 403
    assert _key_json(url, key)["team"] == team
    saved = admin.post("/console/keys/edit", data=fields)
    assert saved.status_code == 303 and saved.headers["location"] == "/console/keys"
    shown = _key_json(url, key)
    assert (shown["team"], shown["role"], shown["models"]) == (other, "client", ["gpt-image-2"])
    listed = httpx.get(url + "/v1/models", headers={"authorization": f"Bearer {secret}"}).json()["data"]
    assert [model["id"] for model in listed] == ["gpt-image-2"]  # the key's own requests see it at once
    row = _row(admin.get("/console/keys").text, "data-key", key)
    assert f">{other}</a>" in row and "<td>client</td>" in row and ">gpt-image-2</td>" in row

    confirm = admin.get(
        "/console/keys/confirm-edit", params={"name": key, "team": "", "role": "admin-read", "models": ""}
    )
    question = html.unescape(confirm.text)
    assert (
        f"to team no team (was {other}), role admin-read (was client), models all models (was gpt-image-2)?" in question
    )
    assert admin.post("/console/keys/edit", data=_hidden_fields(confirm.text)).status_code == 303
    shown = _key_json(url, key)
    assert (shown["team"], shown["role"], shown["models"]) == (None, "admin-read", None)
    confirm = admin.get("/console/keys/confirm-edit", params={"name": key, "models": "gpt-image-*"})  # only models
    assert "team no team, role admin-read, models gpt-image-* (was all models)?" in html.unescape(confirm.text)
    assert "past spend" not in confirm.text


def test_edit_names_an_unknown_team_model_or_role_on_the_page_and_stores_nothing(
    console_gateway: ConsoleGateway, admin: httpx.Client, team_key: tuple[str, str, str]
):
    team, key, _ = team_key
    before = _key_json(console_gateway.url, key)
    for bad, named in (
        ({"team": "no-such-team"}, "no team named 'no-such-team'"),
        ({"models": "gpt-image-2, dall-e-9"}, "unknown model 'dall-e-9' (it serves console-image, gpt-image-2)"),
        ({"models": "gtp-*"}, "'gtp-*' matches no model this gateway serves"),
        ({"role": "owner"}, "'role' must be one of client, admin-read, admin"),
    ):
        answer = admin.get("/console/keys/confirm-edit", params={"name": key, "team": team, "role": "client", **bad})
        page = html.unescape(answer.text)
        assert answer.status_code == 400 and f'<p class="notice bad" role="alert">{named}' in page, bad
        assert 'action="/console/keys/confirm-edit"' in page and "Save key" not in page  # the form again, no button
        if "models" in bad:
            assert f'name="models" value="{bad["models"]}"' in page  # what was typed is kept
        # Past the confirmation (a hand-made POST with the session's token): refused the same way.
        refused = admin.post("/console/keys/edit", data={"name": key, "csrf": csrf_of(answer.text), **bad})
        assert refused.status_code == 400 and named in html.unescape(refused.text)
    assert _key_json(console_gateway.url, key) == before

    token = csrf_of(admin.get("/console/keys").text)
    for answer in (
        admin.get("/console/keys/edit", params={"name": "nobody"}),
        admin.get("/console/keys/confirm-edit", params={"name": "nobody", "role": "client"}),
        admin.post("/console/keys/edit", data={"name": "nobody", "role": "client", "csrf": token}),
    ):
        assert answer.status_code == 404 and "No key named &#39;nobody&#39;" in answer.text
