"""``/admin/teams`` and ``/admin/keys`` on a real gateway: roles, limits, rotation, revocation,
model globs and allowed dialects, with the official SDKs as clients."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from openai import OpenAI

from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import running_gateway, sandbox_models_config

MASTER = "mk-gov-51c2"


@pytest.fixture(scope="module")
def gov(sandbox_url, tmp_path_factory):
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("gov") / "g.db")
    document = sandbox_models_config(sandbox_url, ["gpt-image-2", "gpt-image-1.5", "gpt-image-1-mini"])
    with running_gateway(engine, document, master_key=MASTER) as handle:
        yield handle
    engine.dispose()


def call(handle, method: str, path: str, token: str | None = MASTER, **kwargs) -> httpx.Response:
    headers = {} if token is None else {"authorization": f"Bearer {token}"}
    return httpx.request(method, handle.url + path, headers=headers, **kwargs)


def new_key(handle, name: str, **body) -> str:
    created = call(handle, "POST", "/admin/keys", json={"name": name, **body})
    assert created.status_code == 201, created.text
    return created.json()["key"]


def test_teams_create_show_update_with_limits_and_thresholds(gov):
    body = {"name": "design", "budget_usd": "50.00", "image_quota": 1000, "rpm": 60, "alert_thresholds": [80, 50]}
    created = call(gov, "POST", "/admin/teams", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["limits"]["budget_usd"] == "50.000000" and created.json()["alert_thresholds"] == [50, 80]
    updated = call(gov, "PATCH", "/admin/teams/design", json={"budget_usd": "75", "rpm": None, "quota_period": "day"})
    limits = updated.json()["limits"]
    assert (limits["budget_usd"], limits["rpm"], limits["image_quota"], limits["quota_period"]) == (
        "75.000000",
        None,
        1000,
        "day",
    )
    assert updated.json()["alert_thresholds"] == [50, 80]
    assert call(gov, "GET", "/admin/teams/design").json() == updated.json()
    assert [team["name"] for team in call(gov, "GET", "/admin/teams").json()["data"]] == ["design"]
    assert call(gov, "GET", "/admin/teams/nobody").status_code == 404
    duplicate = call(gov, "POST", "/admin/teams", json={"name": "design"})
    assert duplicate.status_code == 400 and duplicate.json()["error"]["param"] == "name"
    for bad, param in [
        ({"budget_usd": "-1"}, "budget_usd"),
        ({"budget_usd": "lots"}, "budget_usd"),
        ({"budget_period": "year"}, "budget_period"),
        ({"rpm": 0}, "rpm"),
        ({"alert_thresholds": [0]}, "alert_thresholds"),
        ({"limit": 3}, "limit"),
    ]:
        refused = call(gov, "PATCH", "/admin/teams/design", json=bad)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == param, (bad, refused.text)


def test_keys_with_team_tags_and_limits_flow_into_the_ledger(gov):
    call(gov, "POST", "/admin/teams", json={"name": "ads"})
    secret = new_key(gov, "ads-web", team="ads", tags={"env": "prod"}, budget_usd="5", ipm=20, expires_in="30d")
    shown = call(gov, "GET", "/admin/keys/ads-web").json()
    assert shown["team"] == "ads" and shown["tags"] == {"env": "prod"} and shown["limits"]["ipm"] == 20
    assert shown["expires_at"] is not None and "key" not in shown and "key_hash" not in json.dumps(shown)
    client = OpenAI(base_url=gov.url + "/v1", api_key=secret, max_retries=0)
    result = client.images.generate(model="gpt-image-2", prompt="a fox", size="1024x1024", quality="low")
    request_id = result._request_id
    rows = gov.ledger(request_id)
    assert [(row.team, row.tags, row.key_name) for row in rows] == [("ads", {"env": "prod"}, "ads-web")]
    listing = call(gov, "GET", "/admin/keys?team=ads").json()["data"]
    assert [row["name"] for row in listing] == ["ads-web"]
    assert call(gov, "GET", "/admin/keys?team=nobody").status_code == 404
    unknown_team = call(gov, "POST", "/admin/keys", json={"name": "x", "team": "nobody"})
    assert unknown_team.status_code == 404 and unknown_team.json()["error"]["param"] == "team"


def test_roles_on_admin_paths(gov):
    admin = new_key(gov, "ops-admin", role="admin")
    reader = new_key(gov, "finance-reader", role="admin-read")
    client = new_key(gov, "plain-client")
    # admin: everything the master key may do.
    assert call(gov, "POST", "/admin/teams", token=admin, json={"name": "by-admin"}).status_code == 201
    assert call(gov, "POST", "/admin/routes/gpt-image-1.5/openai/gpt-image-1.5/disable", token=admin).status_code == 200
    assert call(gov, "POST", "/admin/routes/gpt-image-1.5/openai/gpt-image-1.5/enable", token=admin).status_code == 200
    # admin-read: reads reports, spend, usage and listings; changes nothing.
    for path in ("/admin/teams", "/admin/keys", "/api/report?by=key", "/admin/usage/export", "/admin/routes"):
        assert call(gov, "GET", path, token=reader).status_code == 200, path
    for method, path in (("POST", "/admin/teams"), ("PATCH", "/admin/keys/plain-client"), ("DELETE", "/admin/keys/x")):
        refused = call(gov, method, path, token=reader, json={"name": "t"} if method == "POST" else {})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "admin_role_required", path
    # client: 403 everywhere on the admin API.
    for path in ("/admin/teams", "/admin/keys", "/api/report", "/admin/usage/export"):
        refused = call(gov, "GET", path, token=client)
        assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error", path
    # Promoting a key works at once here (this gateway caches keys for 0 s).
    assert call(gov, "PATCH", "/admin/keys/plain-client", json={"role": "admin-read"}).status_code == 200
    assert call(gov, "GET", "/admin/keys", token=client).status_code == 200


def test_rotation_keeps_the_old_secret_for_the_grace_then_revocation_stops_both(gov):
    old = new_key(gov, "rotating")
    rotated = call(gov, "POST", "/admin/keys/rotating/rotate", json={"grace": "1h"})
    assert rotated.status_code == 200
    new = rotated.json()["key"]
    assert new != old and rotated.json()["previous_valid_until"] is not None
    for secret in (old, new):
        assert call(gov, "GET", "/v1/models", token=secret).status_code == 200
    # Rotating again without grace: the first secret is gone, the second stops now too.
    newest = call(gov, "POST", "/admin/keys/rotating/rotate").json()["key"]
    assert call(gov, "GET", "/v1/models", token=old).status_code == 401
    assert call(gov, "GET", "/v1/models", token=new).status_code == 401
    assert call(gov, "GET", "/v1/models", token=newest).status_code == 200
    assert call(gov, "DELETE", "/admin/keys/rotating").json() == {"name": "rotating", "revoked": True}
    assert call(gov, "GET", "/v1/models", token=newest).status_code == 401
    assert call(gov, "DELETE", "/admin/keys/rotating").status_code == 404
    assert call(gov, "POST", "/admin/keys/rotating/rotate").status_code == 404
    bad = call(gov, "POST", "/admin/keys/nobody/rotate", json={"grace": "soon"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "grace"


def test_model_globs_and_expiry(gov):
    secret = new_key(gov, "globbed", models=["gpt-image-1*"])
    client = OpenAI(base_url=gov.url + "/v1", api_key=secret, max_retries=0)
    assert sorted(model.id for model in client.models.list()) == ["gpt-image-1-mini", "gpt-image-1.5"]
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.images.generate(model="gpt-image-2", prompt="x", size="1024x1024", quality="low")
    assert refused.value.body["param"] == "model"
    expired = new_key(gov, "expired", expires_at="2020-01-01T00:00:00Z")
    refused_expired = call(gov, "GET", "/v1/models", token=expired)
    assert refused_expired.status_code == 401 and "expired" in refused_expired.json()["error"]["message"]


def test_allowed_dialects_are_enforced_in_the_clients_dialect(gov):
    secret = new_key(gov, "gemini-only", dialects=["gemini"])
    client = OpenAI(base_url=gov.url + "/v1", api_key=secret, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.images.generate(model="gpt-image-2", prompt="x", size="1024x1024", quality="low")
    assert refused.value.body["code"] == "endpoint_not_allowed" and "openai-images" in refused.value.body["message"]
    google = genai.Client(api_key=secret, http_options=types.HttpOptions(base_url=gov.url))
    google.models.generate_content(model="gpt-image-2", contents="a fox")
    edits_only = new_key(gov, "edits-only", dialects=["openai-images:edit"])
    generate = call(
        gov, "POST", "/v1/images/generations", token=edits_only, json={"model": "gpt-image-2", "prompt": "x"}
    )
    assert generate.status_code == 403 and generate.json()["error"]["code"] == "endpoint_not_allowed"
    openai_only = new_key(gov, "openai-only", dialects=["openai-images"])
    other = genai.Client(api_key=openai_only, http_options=types.HttpOptions(base_url=gov.url))
    with pytest.raises(genai_errors.ClientError) as google_refused:
        other.models.generate_content(model="gpt-image-2", contents="a fox")
    assert google_refused.value.code == 403 and google_refused.value.status == "PERMISSION_DENIED"
    bad = call(gov, "POST", "/admin/keys", json={"name": "bad-dialect", "dialects": ["soap"]})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "dialects"


def test_admin_api_is_hidden_without_a_master_key_unless_an_admin_key_calls(gateway):
    assert call(gateway, "GET", "/admin/teams", token="anything").status_code == 404
    assert call(gateway, "GET", "/admin/teams", token=gateway.create_key("no-master-client")).status_code == 404
    from imagegate.service.keys import KeySettings

    created = gateway.runtime.key_admin.create("no-master-admin", KeySettings(role="admin"))
    assert call(gateway, "GET", "/admin/teams", token=created.secret).status_code == 200


def test_usage_export_over_the_api_streams_filtered_rows(gov):
    call(gov, "POST", "/admin/teams", json={"name": "exporters"})
    secret = new_key(gov, "exporter", team="exporters")
    client = OpenAI(base_url=gov.url + "/v1", api_key=secret, max_retries=0)
    for _ in range(2):
        client.images.generate(model="gpt-image-2", prompt="a fox", size="1024x1024", quality="low")
    assert gov.runtime.ledger.wait_idle(10)
    reader = new_key(gov, "export-reader", role="admin-read")
    with httpx.stream(
        "GET", gov.url + "/admin/usage/export?format=csv&team=exporters&since=1h",
        headers={"authorization": f"Bearer {reader}"},
    ) as response:  # fmt: skip
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        lines = [line for line in response.iter_lines() if line != ""]
    assert lines[0].startswith("request_id,attempt,key_name,team,tags,")
    assert len(lines) == 3 and all(",exporter,exporters," in line for line in lines[1:])
    jsonl = call(gov, "GET", "/admin/usage/export?key=exporter")
    assert [json.loads(line)["key_name"] for line in jsonl.text.splitlines()] == ["exporter", "exporter"]
    for query, param in (("?format=xml", "format"), ("?since=yesterday", "since"), ("?until=later", "until")):
        refused = call(gov, "GET", "/admin/usage/export" + query)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == param
