"""What only the S3 store does: presigned links within SigV4's 7 days, its layout in the bucket."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx

from imagegate.storage.s3 import S3ImageStore
from tests.storage.conftest import Clock, later, s3_settings
from tests.storage.test_store_contract import png


async def test_links_are_presigned_gets_capped_at_seven_days(s3_endpoint: str):
    clock = Clock()
    store = S3ImageStore(s3_settings(s3_endpoint), clock=clock)
    try:
        stored = await store.put("a.png", png(), content_type="image/png", expires_at=later(clock, days=30))
        query = parse_qs(urlsplit(stored.url).query)
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and "X-Amz-Signature" in query
        assert int(query["X-Amz-Expires"][0]) == 7 * 24 * 3600
        assert stored.expires_at == clock.now + timedelta(days=7)
        short = await store.url("a.png", expires_at=later(clock, minutes=10))
        assert parse_qs(urlsplit(short).query)["X-Amz-Expires"] == ["600"]
    finally:
        await store.aclose()


async def test_objects_live_under_the_prefix_with_a_retention_marker(s3_endpoint: str):
    clock = Clock()
    settings = s3_settings(s3_endpoint, prefix="gateway")
    store = S3ImageStore(settings, clock=clock)
    try:
        stored = await store.put("images/r/0.png", png(), content_type="image/png", expires_at=later(clock, hours=1))
        assert urlsplit(stored.url).path == f"/{settings.bucket}/gateway/images/r/0.png"
        listing = httpx.get(f"{s3_endpoint}/{settings.bucket}", params={"list-type": "2"}).text
        assert "<Key>gateway/images/r/0.png</Key>" in listing
        assert "<Key>gateway/.retention/" in listing and "/images/r/0.png</Key>" in listing
        assert await store.sweep(later(clock, hours=2)) == 1
        after = httpx.get(f"{s3_endpoint}/{settings.bucket}", params={"list-type": "2"}).text
        assert "<Key>" not in after  # object and marker both gone
    finally:
        await store.aclose()


async def test_links_can_be_presigned_for_a_public_endpoint(s3_endpoint: str):
    clock = Clock()
    # The gateway talks to 127.0.0.1; clients reach the same server as "localhost".
    public = s3_endpoint.replace("127.0.0.1", "localhost")
    store = S3ImageStore(dataclasses.replace(s3_settings(s3_endpoint), public_endpoint_url=public), clock=clock)
    try:
        data = png()
        stored = await store.put("p.png", data, content_type="image/png", expires_at=later(clock, hours=1))
        assert stored.url.startswith(public + "/")
        assert httpx.get(stored.url).content == data
    finally:
        await store.aclose()
