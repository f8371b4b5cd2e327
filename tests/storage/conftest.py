"""The two image stores under one contract: local files (served through the gateway's /files
route) and S3 (a real moto server process, one bucket per test)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from imagegate.api import files
from imagegate.domain.image_store import ImageStore
from imagegate.domain.url_signing import UrlSigner
from imagegate.service.image_storage import ImageStorage, Retention
from imagegate.storage.local import LocalImageStore
from imagegate.storage.s3 import S3ImageStore, S3Settings
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, new_bucket, running_s3_server


class Clock:
    """A settable clock for the stores (retention checks); starts at the real time."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class StoreUnderTest:
    """A store, the clock it reads, and an HTTP client that can fetch the links it hands out."""

    store: ImageStore
    clock: Clock
    http: httpx.AsyncClient
    kind: str

    async def fetch(self, url: str) -> httpx.Response:
        """GET a link the store handed out (local links go to the /files route)."""
        return await self.http.get(url)

    async def read(self, key: str) -> bytes:
        """Every byte ``open`` streams."""
        return b"".join([chunk async for chunk in await self.store.open(key)])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server for the session."""
    with running_s3_server() as url:
        yield url


def s3_settings(endpoint: str, *, prefix: str = "") -> S3Settings:
    """Settings for a fresh bucket on the test server."""
    return S3Settings(
        bucket=new_bucket(endpoint),
        endpoint_url=endpoint,
        region=REGION,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        path_style=True,
        prefix=prefix,
    )


def files_app(store: LocalImageStore) -> Starlette:
    """The gateway's /files route alone, over ``store``."""
    app = Starlette(routes=files.routes)
    app.state.file_signer = store.signer
    app.state.image_storage = ImageStorage(store, Retention())
    return app


def local_store(root: Path, clock: Clock) -> LocalImageStore:
    """A local store under ``root`` with a random secret and root-relative links."""
    return LocalImageStore(root, UrlSigner(secrets.token_bytes(32)), clock=clock)


@pytest.fixture(params=["local", "s3"])
async def subject(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreUnderTest]:
    """Each store in turn."""
    clock = Clock()
    if request.param == "local":
        store = local_store(tmp_path / "images", clock)
        transport = httpx.ASGITransport(app=files_app(store))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            yield StoreUnderTest(store, clock, http, "local")
        return
    s3 = S3ImageStore(s3_settings(request.getfixturevalue("s3_endpoint"), prefix="imgs"), clock=clock)
    async with httpx.AsyncClient() as http:
        yield StoreUnderTest(s3, clock, http, "s3")
    await s3.aclose()


def later(clock: Clock, **delta: float) -> datetime:
    """``clock``'s now plus ``delta`` (timedelta arguments)."""
    return clock.now + timedelta(**delta)
