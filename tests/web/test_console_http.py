"""The console over plain HTTP: sign-in, CSRF, roles, the spend figures against the report API, and
that no page ever shows a key or a provider credential."""

from __future__ import annotations

import html
import math
import re

import httpx

from tests.web.conftest import MASTER_KEY, ROUTE_SECRET, ConsoleGateway, csrf_of, signed_in_client

PAGES = (
    "/console/overview",
    "/console/overview?window=30d",
    "/console/spend",
    "/console/spend?by=key",
    "/console/spend?by=route",
    "/console/requests",
    "/console/requests?status=error",
    "/console/routes",
    "/console/keys",
    "/console/teams",
    "/console/requests?team=none-such",
    "/console/catalog",
    "/console/catalog?model=gpt-image-2",
)


def test_pages_need_a_session(console_gateway: ConsoleGateway):
    with httpx.Client(base_url=console_gateway.url) as client:
        for path in ("/console/overview", "/console/spend", "/console/requests", "/console/routes", "/console/keys"):
            answer = client.get(path)
            assert answer.status_code == 303
            assert answer.headers["location"] == "/console/sign-in?next=" + path
        assert client.get("/").headers["location"] == "/console"
        deep = client.get("/console/spend?by=key&since=7d")
        assert deep.headers["location"] == "/console/sign-in?next=/console/spend%3Fby%3Dkey%26since%3D7d"


def test_a_client_key_or_a_wrong_key_cannot_sign_in_and_is_never_echoed(console_gateway: ConsoleGateway):
    for key in (console_gateway.client_key, "ig-not-a-key-at-all-123"):
        with httpx.Client(base_url=console_gateway.url) as client:
            token = csrf_of(client.get("/console/sign-in").text)
            answer = client.post("/console/sign-in", data={"key": key, "csrf": token})
            assert answer.status_code == 401
            assert "cannot open the console" in answer.text
            assert key not in answer.text
            assert "imagegate_console=" not in answer.headers.get("set-cookie", "")


def test_session_cookie_is_httponly_strict_and_holds_no_key(console_gateway: ConsoleGateway):
    with httpx.Client(base_url=console_gateway.url) as client:
        token = csrf_of(client.get("/console/sign-in").text)
        answer = client.post("/console/sign-in", data={"key": MASTER_KEY, "csrf": token})
        assert answer.status_code == 303
        cookie = next(v for v in answer.headers.get_list("set-cookie") if v.startswith("imagegate_console="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
        assert MASTER_KEY not in cookie


def test_sign_in_form_without_its_token_is_refused(console_gateway: ConsoleGateway):
    with httpx.Client(base_url=console_gateway.url) as client:
        client.get("/console/sign-in")
        answer = client.post("/console/sign-in", data={"key": MASTER_KEY, "csrf": "forged"})
        assert answer.status_code == 403
        assert "imagegate_console=" not in answer.headers.get("set-cookie", "")


def test_posts_without_the_csrf_token_change_nothing(console_gateway: ConsoleGateway, admin: httpx.Client):
    before = admin.get("/console/keys").text
    for data in ({"name": "csrf-victim"}, {"name": "csrf-victim", "csrf": "forged"}):
        answer = admin.post("/console/keys", data=data)
        assert answer.status_code == 403
        assert "did not come from the console" in answer.text
    refused = admin.post(
        "/console/routes/apply", data={"action": "disable", "route": "console-image/openai/gpt-image-2"}
    )
    assert refused.status_code == 403
    assert "csrf-victim" not in admin.get("/console/keys").text
    assert admin.get("/console/keys").text.count("<tr data-key=") == before.count("<tr data-key=")
    assert admin.post("/console/sign-out", data={}).status_code == 403
    assert admin.get("/console/overview").status_code == 200  # still signed in


def test_spend_csv_equals_the_report_api_for_the_same_period(console_gateway: ConsoleGateway, admin: httpx.Client):
    for by in ("model", "route", "key", "team"):
        period = f"by={by}&since=2026-01-01T00:00:00%2B00:00&until=2031-01-01T00:00:00%2B00:00"
        page_csv = admin.get(f"/console/spend.csv?{period}")
        api_csv = httpx.get(
            f"{console_gateway.url}/api/report?{period}&format=csv",
            headers={"authorization": f"Bearer {MASTER_KEY}"},
        )
        assert page_csv.status_code == api_csv.status_code == 200
        assert page_csv.text == api_csv.text
        assert len(page_csv.text.splitlines()) >= 2  # a header and at least one group


def test_created_key_is_shown_once_then_works_and_revokes(console_gateway: ConsoleGateway, admin: httpx.Client):
    keys_page = admin.get("/console/keys")
    created = admin.post(
        "/console/keys", data={"name": "made-in-console", "models": "gpt-image-2", "csrf": csrf_of(keys_page.text)}
    )
    assert created.status_code == 201
    secret = created.text.split('id="new-secret">', 1)[1].split("<", 1)[0]
    assert secret.startswith("ig-")
    listed = admin.get("/console/keys").text
    assert "made-in-console" in listed and secret not in listed
    models = httpx.get(console_gateway.url + "/v1/models", headers={"authorization": f"Bearer {secret}"})
    assert [card["id"] for card in models.json()["data"]] == ["gpt-image-2"]
    confirm = admin.get("/console/keys/confirm-revoke?name=made-in-console")
    revoked = admin.post("/console/keys/revoke", data={"name": "made-in-console", "csrf": csrf_of(confirm.text)})
    assert revoked.status_code == 303
    after = httpx.get(console_gateway.url + "/v1/models", headers={"authorization": f"Bearer {secret}"})
    assert after.status_code == 401


def test_no_page_contains_a_key_secret_or_provider_credential(console_gateway: ConsoleGateway, admin: httpx.Client):
    secrets = (MASTER_KEY, console_gateway.client_key, ROUTE_SECRET)
    request_page = f"/console/requests/{console_gateway.request_ids[0]}"
    for path in (*PAGES, request_page, "/console/spend.csv"):
        answer = admin.get(path)
        assert answer.status_code == 200, path
        for secret in secrets:
            assert secret not in answer.text, (path, secret[:6])
    assert "gpt-image-2" in admin.get(request_page).text


def test_request_page_shows_every_attempt(console_gateway: ConsoleGateway, admin: httpx.Client):
    failed_id = console_gateway.request_ids[-1]
    rows = console_gateway.handle.ledger(failed_id)
    page = admin.get(f"/console/requests/{failed_id}").text
    assert page.count('class="card attempt"') == len(rows) >= 1
    for row in rows:
        assert row.error_code is not None and row.error_code in page
    found = admin.get(f"/console/requests?request_id={failed_id}").text
    assert found.count(f">{failed_id}</a>") == len(rows)
    assert "No attempt matches" in admin.get("/console/requests?request_id=nope").text


def test_catalog_is_public_by_default(console_gateway: ConsoleGateway):
    with httpx.Client(base_url=console_gateway.url) as client:
        page = client.get("/console/catalog?model=gpt-image-1.5")
        assert page.status_code == 200
        assert 'data-model="console-image"' in page.text
        assert "Per-image prices" in page.text
        assert "No model is called" in client.get("/console/catalog?model=gpt-image").text


def test_signed_out_session_is_refused(console_gateway: ConsoleGateway):
    client = signed_in_client(console_gateway.url, MASTER_KEY)
    cookie = client.cookies.get("imagegate_console")
    page = client.get("/console/overview")
    assert client.post("/console/sign-out", data={"csrf": csrf_of(page.text)}).status_code == 303
    assert client.get("/console/overview").status_code == 303
    # The old cookie, replayed, no longer opens the console either.
    with httpx.Client(base_url=console_gateway.url, cookies={"imagegate_console": cookie or ""}) as replay:
        assert replay.get("/console/overview").status_code == 303
    client.close()


def test_weight_changes_go_through_confirmation_and_are_validated(console_gateway: ConsoleGateway, admin: httpx.Client):
    route = "gpt-image-2/openai/gpt-image-2"
    assert admin.get(f"/console/routes/confirm?action=weight&route={route}&weight=-1").status_code == 400
    confirm = admin.get(f"/console/routes/confirm?action=weight&route={route}&weight=2.5")
    assert confirm.status_code == 200 and "Set the weight of route" in confirm.text
    data = {"action": "weight", "route": route, "weight": "2.5", "csrf": csrf_of(confirm.text)}
    assert admin.post("/console/routes/apply", data=data).status_code == 303
    overview = console_gateway.handle.runtime.routing
    assert overview is not None
    assert overview.load_snapshot().weight(route, 1.0) == 2.5
    unknown = admin.post("/console/routes/apply", data={**data, "route": "no/such/route"})
    assert unknown.status_code == 400 and "No route named" in unknown.text
    rollback = {"action": "rollback", "alias": "gpt-image-2", "csrf": data["csrf"]}
    assert admin.post("/console/routes/apply", data=rollback).status_code == 303
    assert overview.load_snapshot().weight(route, 1.0) == 1.0


def test_top_errors_link_to_their_attempts(console_gateway: ConsoleGateway, admin: httpx.Client):
    overview = admin.get("/console/overview").text
    link = overview.split('<table id="top-errors">', 1)[1].split('href="', 1)[1].split('"', 1)[0]
    assert link.startswith("/console/requests?error_code=")
    attempts = admin.get(link.replace("&amp;", "&")).text
    failed = [row for row in console_gateway.handle.ledger() if row.status == "error"]
    assert attempts.count('<span class="badge error">') == len(failed) >= 1


def test_overview_figures_equal_the_report_api(console_gateway: ConsoleGateway, admin: httpx.Client):
    from datetime import UTC, datetime

    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    page = admin.get("/console/overview").text
    report = httpx.get(
        console_gateway.url + "/api/report",
        params={"since": midnight.isoformat()},
        headers={"authorization": f"Bearer {MASTER_KEY}"},
    ).json()["total"]

    def figure(name: str) -> str:
        return page.split(f'data-figure="{name}">', 1)[1].split("<", 1)[0]

    assert figure("spend-today") == "$" + report["spend_usd"]
    assert figure("images-today") == str(report["images"])
    assert f"{report['images']} images, ${report['spend_usd']} in this window" in page
    month = httpx.get(
        console_gateway.url + "/api/report",
        params={"since": midnight.replace(day=1).isoformat()},
        headers={"authorization": f"Bearer {MASTER_KEY}"},
    ).json()["total"]
    assert figure("spend-month") == "$" + month["spend_usd"] and figure("images-month") == str(month["images"])
    per_accepted = month["cost_per_accepted_image_usd"]
    assert figure("cost-per-accepted") == ("—" if per_accepted is None else "$" + per_accepted)

    # Success rate and latency percentiles, recomputed from the ledger's rows.
    rows = console_gateway.handle.ledger()
    requests = {row.request_id for row in rows}
    succeeded = {row.request_id for row in rows if row.status == "ok"}
    rate = len(succeeded) * 10_000 // len(requests)
    assert figure("success-rate") == f"{rate // 100}.{rate % 100:02d}%"
    latencies = sorted(row.latency_ms for row in rows if row.status == "ok")

    def rank(q: float) -> int:
        return latencies[max(1, math.ceil(q * len(latencies))) - 1]

    assert figure("latency") == f"{rank(0.5)} ms / {rank(0.95)} ms"


def test_pages_are_not_cached_framed_or_open_to_foreign_scripts(admin: httpx.Client):
    headers = admin.get("/console/overview").headers
    assert headers["cache-control"] == "no-store"
    assert headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


def test_the_explorer_pages_back_through_older_attempts(console_gateway: ConsoleGateway, admin: httpx.Client):
    seen: list[str] = []
    path: str | None = "/console/requests?key_name=console-client&limit=2"
    while path is not None:
        page = admin.get(path.replace("&amp;", "&")).text
        seen += re.findall(r'<a href="/console/requests/[^"]+">([^<]+)</a>', page)
        found = re.search(r'<a class="button secondary" href="([^"]+)">Older attempts</a>', page)
        path = None if found is None else found.group(1)
    rows = [row for row in console_gateway.handle.ledger() if row.key_name == "console-client"]
    assert sorted(seen) == sorted(row.request_id for row in rows)


def test_the_chart_library_is_vendored_with_its_licence(console_gateway: ConsoleGateway):
    from importlib.resources import files

    static = files("imagegate.web") / "static"
    with httpx.Client(base_url=console_gateway.url) as client:
        script = client.get("/console/static/chart.umd.min.js")
        assert script.status_code == 200 and script.content == (static / "chart.umd.min.js").read_bytes()
        licence = client.get("/console/static/chart.js-LICENSE.md")
        assert licence.status_code == 200 and "MIT License" in licence.text and "Chart.js Contributors" in licence.text


def test_catalog_page_shows_what_the_pricing_api_has_for_an_exact_id(console_gateway: ConsoleGateway):
    rows = httpx.get(console_gateway.url + "/api/pricing").json()["models"]
    with httpx.Client(base_url=console_gateway.url) as client:
        for wanted in ("gpt-image-2", "imagen-4.0-generate-001"):
            page = html.unescape(client.get("/console/catalog", params={"model": wanted}).text)
            matching = [row for row in rows if wanted in (row["model"], row["provider_model"])]
            assert matching and page.count("<section") == len(matching)
            for row in matching:
                section = page.split(f'data-model="{row["model"]}"', 1)[1].split("</section>", 1)[0]
                assert f"<code>{row['provider_model']}</code>" in section and row["unit"] in section
                assert f"as of {row['as_of']}" in section and row["source"][0] in section
                assert ", ".join(row["endpoint_types"]) in section
                assert "Last checked" in section
                for point in row["per_image"]:
                    assert f"${point['usd']}" in section
                life = row["lifecycle"]
                if life["shutdown_on"] is not None:
                    assert f"shuts down {life['shutdown_on']}" in section
                    if life["replacement"] is not None:
                        assert f"<code>{life['replacement']}</code>" in section
                else:
                    assert "no end announced" in section
    assert any(row["provider_model"] == "imagen-4.0-generate-001" and row["lifecycle"]["shutdown_on"] for row in rows)


def test_routes_page_shows_each_routes_figures_as_the_admin_api(console_gateway: ConsoleGateway, admin: httpx.Client):
    overview = httpx.get(
        console_gateway.url + "/admin/routes", headers={"authorization": f"Bearer {MASTER_KEY}"}
    ).json()
    page = html.unescape(admin.get("/console/routes").text)
    routes = [route for alias in overview["data"] for route in alias["routes"]]
    assert routes and any(route["calls"] for route in routes)
    for route in routes:
        row = page.split(f'<tr data-route="{route["route"]}">', 1)[1].split("</tr>", 1)[0]
        cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        millis = lambda value: "—" if value is None else f"{round(value)} ms"  # noqa: E731
        assert cells[3] == route["status"] and cells[5] == f"{millis(route['p50_ms'])} / {millis(route['p95_ms'])}"
        if route["calls"]:
            assert cells[6] == f"{route['error_rate'] * 100:.1f}% of {route['calls']}"
        assert cells[7] == "closed"  # breakers are configured never to open in this module
