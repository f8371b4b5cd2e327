"""``/openapi.json`` describes every endpoint served and validates; ``/docs`` works without the network."""

from __future__ import annotations

import re

import httpx
from openapi_spec_validator import validate

from imagegate.api.ops.docs import ASSETS
from imagegate.api.ops.openapi_doc import openapi_path
from imagegate.api.ops.operations import OPERATIONS
from imagegate.api.routes import all_routes
from tests.support.gateway import GatewayHandle


def _served(routes) -> set[tuple[str, str]]:
    return {(method, openapi_path(route.path)) for route in routes for method in route.methods - {"HEAD"}}


def test_the_document_validates_and_lists_every_route(gateway: GatewayHandle):
    answer = httpx.get(gateway.url + "/openapi.json")
    assert answer.status_code == 200
    document = answer.json()
    validate(document)
    listed = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    served = _served(all_routes())
    assert served <= listed  # every route of api/routes.py, so the document cannot drift
    assert ("GET", "/healthz") in listed
    # The list by name: every dialect, admin, pricing, estimate, feedback, jobs, batches, responses.
    assert {
        ("POST", "/v1/images/generations"),
        ("POST", "/v1beta/models/{target}"),
        ("POST", "/v1/responses"),
        ("POST", "/v1/images/jobs"),
        ("GET", "/v1/images/jobs/{job_id}"),
        ("POST", "/v1/images/jobs/{job_id}/cancel"),
        ("POST", "/v1/imagegate/batches"),
        ("GET", "/v1/imagegate/batches/{batch_id}/results"),
        ("POST", "/admin/keys"),
        ("POST", "/admin/keys/{name}/rotate"),
        ("GET", "/admin/teams"),
        ("GET", "/admin/spend"),
        ("GET", "/api/report"),
        ("GET", "/api/pricing"),
        ("POST", "/api/estimate"),
        ("POST", "/v1/images/feedback"),
        ("GET", "/metrics"),
        ("GET", "/readyz"),
    } <= listed
    for path, item in document["paths"].items():
        for operation in item.values():
            assert operation["summary"] != "" and operation["responses"], path
    # Every documented operation exists, and the main ones are described explicitly.
    assert set(OPERATIONS) <= listed
    assert {("POST", "/v1/images/generations"), ("POST", "/v1beta/models/{target}"), ("GET", "/metrics")} <= set(
        OPERATIONS
    )
    generation = document["paths"]["/v1/images/generations"]["post"]
    assert generation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ImageParams"
    }
    assert "prompt" in document["components"]["schemas"]["ImageParams"]["required"]
    assert document["paths"]["/v1/images/edits"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert document["paths"]["/admin/keys"]["post"]["security"] == [{"masterKey": []}]


def test_the_docs_page_loads_only_vendored_assets(gateway: GatewayHandle):
    page = httpx.get(gateway.url + "/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert re.search(r"https?://", page.text) is None  # nothing from the network
    for asset in re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', page.text):
        loaded = httpx.get(gateway.url + asset)
        assert loaded.status_code == 200 and len(loaded.content) > 0, asset
    for name in ASSETS:
        assert httpx.get(f"{gateway.url}/docs/assets/{name}").status_code == 200
    assert "Apache License" in httpx.get(gateway.url + "/docs/assets/LICENSE").text
    assert httpx.get(gateway.url + "/docs/assets/..%2Fdocs.py").status_code == 404
