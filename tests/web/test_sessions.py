"""Console sessions without a browser: signatures, server-side expiry, sign-out, CSRF tokens, and
the admin-read role (looks, cannot change)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from imagegate.app import build_runtime, create_app
from imagegate.config.file import parse_config
from imagegate.config.settings import Settings
from imagegate.service.keys import KeySettings
from imagegate.web.session import SESSION_COOKIE, ConsoleSessions, signing_secret
from tests.store.fixtures import migrated_sqlite_engine
from tests.web.conftest import csrf_of


class Clock:
    """A settable clock (seconds)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_sessions_expire_on_the_server_and_refuse_forgeries() -> None:
    clock = Clock()
    sessions = ConsoleSessions(b"s" * 32, ttl_s=60, clock=clock)
    cookie, session = sessions.issue("master", None, "admin")
    assert sessions.read(cookie) == session
    payload, signature = cookie.split(".")
    assert sessions.read(payload + "." + signature[:-2] + "AA") is None
    assert ConsoleSessions(b"t" * 32, ttl_s=60, clock=clock).read(cookie) is None  # another secret
    assert sessions.read("garbage") is None and sessions.read(None) is None
    clock.now += 61
    assert sessions.read(cookie) is None  # expired, whatever the browser still sends


def test_sign_out_ends_the_session_and_csrf_tokens_are_per_session() -> None:
    sessions = ConsoleSessions(b"s" * 32, ttl_s=60)
    first_cookie, first = sessions.issue("master", None, "admin")
    _, second = sessions.issue("ops", 7, "admin-read")
    assert sessions.csrf_ok(first, sessions.csrf_token(first))
    assert not sessions.csrf_ok(first, sessions.csrf_token(second))
    assert not sessions.csrf_ok(first, None)
    sessions.end(first)
    assert sessions.read(first_cookie) is None


def test_signin_tokens_match_their_nonce_and_expire() -> None:
    clock = Clock()
    sessions = ConsoleSessions(b"s" * 32, ttl_s=60, clock=clock)
    nonce, token = sessions.signin_nonce()
    other_nonce, _ = sessions.signin_nonce()
    assert sessions.signin_ok(nonce, token)
    assert not sessions.signin_ok(other_nonce, token)
    clock.now += 3601
    assert not sessions.signin_ok(nonce, token)


def test_signing_secret_is_shared_by_replicas_with_the_same_master_key() -> None:
    assert signing_secret(None, "ig-master-a") == signing_secret(None, "ig-master-a")
    assert signing_secret(None, "ig-master-a") != signing_secret(None, "ig-master-b")
    assert signing_secret("configured", "ig-master-a") == b"configured"
    assert signing_secret(None, None) != signing_secret(None, None)


@pytest.fixture(params=[True, False], ids=["public-pricing", "private-pricing"])
def console(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[TestClient, str, str]]:
    """An in-process gateway (no master key, no routes, no traffic) with an admin-read key, an admin
    key and a plain client key, with public pricing on and off."""
    engine = migrated_sqlite_engine(tmp_path / "imagegate.db")
    settings = Settings(
        database_url=str(engine.url),
        auto_migrate=False,
        data_dir=tmp_path,
        auth_cache_ttl_s=0,
        public_pricing=request.param,
    )
    runtime = build_runtime(settings, parse_config({"models": []}, env={}), engine=engine)
    reader = runtime.key_admin.create("role-admin-read", KeySettings(role="admin-read")).secret
    client_key = runtime.key_admin.create("plain").secret
    runtime.key_admin.create("role-admin", KeySettings(role="admin"))
    with TestClient(create_app(runtime, dispose_engine=False), follow_redirects=False) as client:
        yield client, reader, client_key
    engine.dispose()


def _sign_in(client: TestClient, key: str) -> int:
    token = csrf_of(client.get("/console/sign-in").text)
    return client.post("/console/sign-in", data={"key": key, "csrf": token}).status_code


def test_admin_read_sees_every_page_but_cannot_change(console: tuple[TestClient, str, str]) -> None:
    client, reader, client_key = console
    assert _sign_in(client, client_key) == 401
    assert _sign_in(client, reader) == 303
    assert SESSION_COOKIE in client.cookies
    keys_page = client.get("/console/keys")
    assert keys_page.status_code == 200
    assert "role-admin-read" in keys_page.text and "Create a key" not in keys_page.text
    for path in ("/console/overview", "/console/spend", "/console/requests", "/console/routes", "/console/catalog"):
        assert client.get(path).status_code == 200, path
    # Empty states say what to do next.
    empty = {
        "/console/overview": "No requests in the last 24h. Send one with your SDK",
        "/console/spend": "Nothing was spent in this period. Widen it",
        "/console/requests": "The ledger is empty: no request has reached a provider yet. Make a key",
        "/console/routes": "No routes are configured. Add models and routes to the config file",
        "/console/teams": "No teams yet. An admin can create one",
    }
    for path, advice in empty.items():
        assert advice in client.get(path).text, path
    refused = client.post("/console/keys", data={"name": "sneaky", "csrf": csrf_of(keys_page.text)})
    assert refused.status_code == 403
    assert "admin-read" in refused.text
    assert "sneaky" not in client.get("/console/keys").text
    assert client.post("/console/sign-out", data={"csrf": csrf_of(keys_page.text)}).status_code == 303
    assert client.get("/console/keys").status_code == 303


def test_a_revoked_key_loses_its_console_session(console: tuple[TestClient, str, str]) -> None:
    client, reader, _ = console
    assert _sign_in(client, reader) == 303
    assert client.get("/console/overview").status_code == 200
    client.app.state.console.key_admin.revoke("role-admin-read")  # type: ignore[attr-defined]
    assert client.get("/console/overview").status_code == 303


def test_without_a_master_key_or_admin_keys_nobody_signs_in(console: tuple[TestClient, str, str]) -> None:
    client, _, _ = console
    assert _sign_in(client, "") == 401
    assert _sign_in(client, "ig-master-guess") == 401
    public = client.app.state.console.public_pricing  # type: ignore[attr-defined]
    assert client.get("/console/catalog").status_code == (200 if public else 303)


def test_an_admin_role_key_signs_in_and_can_change(console: tuple[TestClient, str, str]) -> None:
    client, _, _ = console
    admin_key = client.app.state.console.key_admin.rotate("role-admin", timedelta(0)).secret  # type: ignore[attr-defined]
    assert _sign_in(client, admin_key) == 303
    teams = client.get("/console/teams")
    assert "Create a team" in teams.text and admin_key not in teams.text
    made = client.post("/console/teams", data={"name": "by-admin-key", "csrf": csrf_of(teams.text)})
    assert made.status_code == 303
    assert 'data-team="by-admin-key"' in client.get("/console/teams").text


def test_a_key_given_another_role_in_the_console_signs_in_again_to_it(console: tuple[TestClient, str, str]) -> None:
    client, _, _ = console
    admin_key = client.app.state.console.key_admin.rotate("role-admin", timedelta(0)).secret  # type: ignore[attr-defined]
    assert _sign_in(client, admin_key) == 303
    confirm = client.get("/console/keys/confirm-edit", params={"name": "role-admin", "role": "admin-read"})
    assert confirm.status_code == 200 and "role admin-read (was admin)" in confirm.text
    saved = client.post(
        "/console/keys/edit", data={"name": "role-admin", "role": "admin-read", "csrf": csrf_of(confirm.text)}
    )
    assert saved.status_code == 303
    assert client.get("/console/keys").status_code == 303  # the admin session ended with the admin role
    assert _sign_in(client, admin_key) == 303
    keys_page = client.get("/console/keys")
    assert keys_page.status_code == 200 and "Create a key" not in keys_page.text  # now it only looks
    refused = client.post(
        "/console/keys/edit", data={"name": "role-admin", "role": "admin", "csrf": csrf_of(keys_page.text)}
    )
    assert refused.status_code == 403
