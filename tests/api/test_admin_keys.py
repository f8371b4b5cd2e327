"""The admin keys API behind ``IMAGEGATE_MASTER_KEY``, on a real gateway server."""

from __future__ import annotations

import httpx
import pytest
from openai import OpenAI

from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import running_gateway, sandbox_models_config

MASTER = "mk-test-7f3a9c"


@pytest.fixture(scope="module")
def admin_gateway(sandbox_url, tmp_path_factory):
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("admin") / "a.db")
    with running_gateway(
        engine, sandbox_models_config(sandbox_url, ["gpt-image-2", "gpt-image-1.5"]), master_key=MASTER
    ) as handle:
        yield handle
    engine.dispose()


def admin(handle, method: str, path: str, token: str | None = MASTER, **kwargs) -> httpx.Response:
    headers = {} if token is None else {"authorization": f"Bearer {token}"}
    return httpx.request(method, handle.url + path, headers=headers, **kwargs)


def test_create_use_list_revoke(admin_gateway):
    created = admin(admin_gateway, "POST", "/admin/keys", json={"name": "svc-a", "models": ["gpt-image-2"]})
    assert created.status_code == 201
    secret = created.json()["key"]
    assert secret.startswith("ig-") and created.json()["models"] == ["gpt-image-2"]
    client = OpenAI(base_url=admin_gateway.url + "/v1", api_key=secret, max_retries=0)
    assert [model.id for model in client.models.list()] == ["gpt-image-2"]
    listing = admin(admin_gateway, "GET", "/admin/keys").json()["data"]
    assert [row["name"] for row in listing] == ["svc-a"]
    assert all("key" not in row and "key_hash" not in row for row in listing)
    assert admin(admin_gateway, "DELETE", "/admin/keys/svc-a").json() == {"name": "svc-a", "revoked": True}
    assert httpx.get(admin_gateway.url + "/v1/models", headers={"authorization": f"Bearer {secret}"}).status_code == 401
    again = admin(admin_gateway, "DELETE", "/admin/keys/svc-a")
    assert again.status_code == 404 and again.json()["error"]["param"] == "name"


def test_duplicates_and_bad_bodies_name_the_parameter(admin_gateway):
    assert admin(admin_gateway, "POST", "/admin/keys", json={"name": "dup"}).status_code == 201
    duplicate = admin(admin_gateway, "POST", "/admin/keys", json={"name": "dup"})
    assert duplicate.status_code == 400 and duplicate.json()["error"]["param"] == "name"
    bad = admin(admin_gateway, "POST", "/admin/keys", json={"name": "x", "models": "gpt-image-2"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "models"


def test_wrong_or_missing_master_key_is_401_and_client_keys_are_403(admin_gateway):
    assert admin(admin_gateway, "GET", "/admin/keys", token=None).status_code == 401
    assert admin(admin_gateway, "GET", "/admin/keys", token="mk-wrong").status_code == 401
    user_key = admin_gateway.create_key("plain-user")
    refused = admin(admin_gateway, "GET", "/admin/keys", token=user_key)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "admin_role_required"


def test_admin_api_does_not_exist_without_a_master_key(gateway):
    response = httpx.get(gateway.url + "/admin/keys", headers={"authorization": "Bearer anything"})
    assert response.status_code == 404


def test_a_model_the_gateway_does_not_serve_is_refused_and_nothing_changes(admin_gateway):
    created = admin(admin_gateway, "POST", "/admin/keys", json={"name": "svc-m", "models": ["gpt-image-2"]})
    assert created.status_code == 201
    for models, named in ((["gpt-image-2", "dall-e-9"], "unknown model 'dall-e-9'"), (["gtp-*"], "'gtp-*' matches no")):
        for method, path, body in (
            ("PATCH", "/admin/keys/svc-m", {"models": models}),
            ("POST", "/admin/keys", {"name": "svc-n", "models": models}),
        ):
            refused = admin(admin_gateway, method, path, json=body)
            error = refused.json()["error"]
            assert refused.status_code == 400 and (error["code"], error["param"]) == ("unknown_model", "models")
            assert error["message"].startswith(named) and "gpt-image-1.5, gpt-image-2" in error["message"]
    assert admin(admin_gateway, "GET", "/admin/keys/svc-m").json()["models"] == ["gpt-image-2"]
    assert admin(admin_gateway, "GET", "/admin/keys/svc-n").status_code == 404
    patched = admin(admin_gateway, "PATCH", "/admin/keys/svc-m", json={"models": ["gpt-image-1*"]})
    assert patched.status_code == 200 and patched.json()["models"] == ["gpt-image-1*"]
