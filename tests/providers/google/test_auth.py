"""Service-account OAuth: the signed assertion, the token cache, route options. No network."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

import orjson
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from imagegate.domain import errors as e
from imagegate.providers.base import RouteTarget, WireRequest, WireResponse
from imagegate.providers.google.auth import (
    GRANT_TYPE,
    REFRESH_MARGIN_S,
    AccessTokens,
    ServiceAccount,
    ServiceAccountError,
    signed_assertion,
)
from imagegate.providers.google.endpoints import GoogleAccess, RouteOptionError, endpoint_from_options

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
INFO = {
    "type": "service_account",
    "project_id": "proj-9",
    "private_key_id": "kid-1",
    "private_key": PEM,
    "client_email": "gw@proj-9.iam.gserviceaccount.com",
    "token_uri": "https://oauth2.example/token",
}
ACCOUNT = ServiceAccount.from_info(INFO)
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


def _b64url_json(text: str) -> dict:
    return orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def test_the_assertion_is_an_rs256_jwt_the_public_key_verifies():
    token = signed_assertion(ACCOUNT, SCOPES, now=1_800_000_000.7)
    header, claims, signature = token.split(".")
    assert _b64url_json(header) == {"alg": "RS256", "typ": "JWT", "kid": "kid-1"}
    assert _b64url_json(claims) == {
        "iss": INFO["client_email"],
        "scope": SCOPES[0],
        "aud": INFO["token_uri"],
        "iat": 1_800_000_000,
        "exp": 1_800_003_600,
    }
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    KEY.public_key().verify(raw, f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())


class FakeTokenEndpoint:
    def __init__(self, status: int = 200, body: dict | None = None) -> None:
        self.calls: list[WireRequest] = []
        self.status = status
        self.body = body

    async def __call__(self, wire: WireRequest) -> WireResponse:
        self.calls.append(wire)
        body = self.body if self.body is not None else {"access_token": f"tok-{len(self.calls)}", "expires_in": 3600}
        return WireResponse(self.status, {}, orjson.dumps(body))


async def test_tokens_are_cached_until_shortly_before_expiry():
    now = [1000.0]
    tokens = AccessTokens(clock=lambda: now[0])
    endpoint = FakeTokenEndpoint()
    assert await tokens.bearer(ACCOUNT, SCOPES, endpoint) == "tok-1"
    now[0] += 3600 - REFRESH_MARGIN_S - 1
    assert await tokens.bearer(ACCOUNT, SCOPES, endpoint) == "tok-1"
    now[0] += 2
    assert await tokens.bearer(ACCOUNT, SCOPES, endpoint) == "tok-2"
    form = parse_qs(endpoint.calls[0].content.decode())
    assert form["grant_type"] == [GRANT_TYPE] and form["assertion"][0].count(".") == 2
    assert endpoint.calls[0].url == INFO["token_uri"]
    assert endpoint.calls[0].headers["content-type"] == "application/x-www-form-urlencoded"


async def test_a_refused_assertion_is_an_authentication_error_without_the_key():
    endpoint = FakeTokenEndpoint(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
    with pytest.raises(e.ProviderAuthentication) as info:
        await AccessTokens().bearer(ACCOUNT, SCOPES, endpoint)
    assert info.value.provider_code == "invalid_grant"
    assert "PRIVATE KEY" not in info.value.message


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"private_key": "not a key"}, "not a PEM"),
        ({"client_email": ""}, "client_email"),
        ({"type": "authorized_user"}, "service_account"),
    ],
)
def test_unusable_key_files_are_named_without_quoting_the_key(change, problem):
    with pytest.raises(ServiceAccountError, match=problem) as info:
        ServiceAccount.from_info({**INFO, **change})
    assert "BEGIN" not in str(info.value)


def _route(**options) -> RouteTarget:
    return RouteTarget(
        name="r",
        alias="a",
        provider="gemini",
        model="m",
        base_url="https://aiplatform.googleapis.com",
        api_key="",
        options=options,
    )


def test_route_options_pick_vertex_from_the_key_file(tmp_path):
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(INFO))
    endpoint = endpoint_from_options(_route(service_account_file=str(path)))
    assert (endpoint.vertex, endpoint.project, endpoint.location, endpoint.api_version) == (
        True,
        "proj-9",
        "global",
        "v1beta1",
    )
    assert endpoint.url("https://aiplatform.googleapis.com", "m", "predict") == (
        "https://aiplatform.googleapis.com/v1beta1/projects/proj-9/locations/global/publishers/google/models/m:predict"
    )
    gemini_api = endpoint_from_options(_route(api_version="v1"))
    assert (
        not gemini_api.vertex
        and gemini_api.url("https://x", "m", "generateContent") == "https://x/v1/models/m:generateContent"
    )


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"service_account_file": "/nonexistent/sa.json"}, "cannot read"),
        ({"oauth_scopes": "one"}, "list of strings"),
        ({"vertex_location": ""}, "non-empty"),
        ({"vertex_location": "us-east1"}, "needs .vertex_project."),
        ({"service_account": "inline string"}, "mapping"),
    ],
)
def test_bad_route_options_fail_naming_the_route(options, problem):
    with pytest.raises(RouteOptionError, match=problem):
        endpoint_from_options(_route(**options))


async def test_authorize_adds_the_bearer_only_for_service_account_routes():
    class Http:
        def __init__(self) -> None:
            self.sent = 0

        async def send(self, wire: WireRequest, *, timeout_s: float) -> WireResponse:
            self.sent += 1
            return WireResponse(200, {}, orjson.dumps({"access_token": "ya29.x", "expires_in": 3600}))

    access, http = GoogleAccess(), Http()
    wire = WireRequest("POST", "https://x", {})
    await access.authorize(wire, _route(service_account=INFO), http)  # type: ignore[arg-type]
    assert wire.headers["authorization"] == "Bearer ya29.x"
    plain = WireRequest("POST", "https://x", {})
    await access.authorize(plain, _route(), http)  # type: ignore[arg-type]
    assert plain.headers == {} and http.sent == 1
