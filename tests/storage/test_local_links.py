"""The local store's links: signed, expiring, tamper-proof, and unable to reach outside the root."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from imagegate.config.settings import Settings
from imagegate.domain.url_signing import UrlSigner
from imagegate.storage.local import LocalImageStore
from imagegate.storage_setup import signing_secret
from tests.storage.conftest import Clock, files_app, local_store
from tests.storage.test_store_contract import png


@pytest.fixture
async def served(tmp_path: Path):
    store = local_store(tmp_path / "images", Clock())
    (tmp_path / "outside.txt").write_text("not yours")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=files_app(store)), base_url="http://gw") as http:
        yield store, http


def _query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


async def test_a_genuine_link_serves_the_file_with_its_type_and_cache_lifetime(served):
    store, http = served
    stored = await store.put(
        "x/0.png", png(), content_type="image/png", expires_at=datetime.now(UTC) + timedelta(hours=1)
    )
    assert stored.url.startswith("/files/x/0.png?expires=")
    response = await http.get(stored.url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert 3500 <= int(response.headers["cache-control"].split("max-age=")[1]) <= 3600


@pytest.mark.parametrize("change", ["signature", "expiry", "key", "missing signature", "missing expiry"])
async def test_a_tampered_link_is_refused_with_403(served, change: str):
    store, http = served
    await store.put("x/0.png", png(), content_type="image/png", expires_at=datetime.now(UTC) + timedelta(hours=1))
    await store.put("x/1.png", png(), content_type="image/png", expires_at=datetime.now(UTC) + timedelta(hours=1))
    url = await store.url("x/0.png", expires_at=datetime.now(UTC) + timedelta(minutes=5))
    query = _query(url)
    path = "/files/x/0.png"
    if change == "signature":
        query["sig"] = ("A" if query["sig"][0] != "A" else "B") + query["sig"][1:]
    elif change == "expiry":
        query["expires"] = str(int(query["expires"]) + 3600)
    elif change == "key":
        path = "/files/x/1.png"
    elif change == "missing signature":
        del query["sig"]
    else:
        del query["expires"]
    response = await http.get(path, params=query)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_signature"


async def test_an_expired_link_is_refused_with_403(served):
    store, http = served
    await store.put("x/0.png", png(), content_type="image/png", expires_at=datetime.now(UTC) + timedelta(hours=1))
    url = await store.url("x/0.png", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert (await http.get(url)).status_code == 403


@pytest.mark.parametrize(
    ("path", "key"),
    [("/files/..%2Foutside.txt", "../outside.txt"), ("/files/x%2F..%2F..%2Foutside.txt", "x/../../outside.txt")],
)
async def test_even_a_validly_signed_traversal_reaches_nothing_outside_the_root(served, path: str, key: str):
    store, http = served
    expires = int((datetime.now(UTC) + timedelta(minutes=5)).timestamp())
    # Signed with the server's own secret: only the key check stands between this and the file.
    response = await http.get(path, params={"expires": expires, "sig": store.signer.signature(key, expires)})
    assert response.status_code == 404
    assert b"not yours" not in response.content


async def test_a_deleted_file_answers_404(served):
    store, http = served
    stored = await store.put(
        "x/0.png", png(), content_type="image/png", expires_at=datetime.now(UTC) + timedelta(hours=1)
    )
    await store.delete("x/0.png")
    assert (await http.get(stored.url)).status_code == 404


def test_the_signing_secret_is_generated_once_private_and_reused(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)
    first = signing_secret(settings)
    assert len(first) == 64 and signing_secret(settings) == first
    assert os.stat(tmp_path / "storage-secret").st_mode & 0o077 == 0
    assert [path.name for path in tmp_path.iterdir()] == ["storage-secret"]
    configured = Settings(data_dir=tmp_path, storage_secret=SecretStr("an operator secret of some length"))
    assert signing_secret(configured) == b"an operator secret of some length"


def test_public_url_makes_links_absolute(tmp_path: Path):
    signer = UrlSigner(b"0123456789abcdef0123", base_url="https://img.example.com/")
    store = LocalImageStore(tmp_path, signer)
    url = signer.url("a/b.png", datetime(2030, 1, 1, tzinfo=UTC))
    assert url.startswith("https://img.example.com/files/a/b.png?expires=1893456000&sig=")
    assert store.root == tmp_path.resolve()
