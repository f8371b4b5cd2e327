"""One contract, both stores: put/url/open/delete/sweep, retention, and keys that cannot escape."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from imagegate.storage.keys import InvalidKey
from tests.storage.conftest import StoreUnderTest, later


def png(width: int = 24, height: int = 16) -> bytes:
    """A real PNG of the given size."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_put_returns_a_link_that_serves_the_image(subject: StoreUnderTest):
    data = png(24, 16)
    expires_at = later(subject.clock, hours=1)
    stored = await subject.store.put("images/req_1/0.png", data, content_type="image/png", expires_at=expires_at)
    assert (stored.key, stored.size, stored.content_type, stored.expires_at) == (
        "images/req_1/0.png",
        len(data),
        "image/png",
        expires_at,
    )
    response = await subject.fetch(stored.url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (24, 16)
    assert await subject.read("images/req_1/0.png") == data


async def test_url_signs_a_fresh_link_for_an_existing_object(subject: StoreUnderTest):
    data = png()
    await subject.store.put("a/b.png", data, content_type="image/png", expires_at=later(subject.clock, hours=2))
    url = await subject.store.url("a/b.png", expires_at=later(subject.clock, minutes=5))
    response = await subject.fetch(url)
    assert response.status_code == 200 and response.content == data


async def test_put_overwrites(subject: StoreUnderTest):
    await subject.store.put("k.png", png(10, 10), content_type="image/png", expires_at=later(subject.clock, hours=1))
    second = png(30, 20)
    await subject.store.put("k.png", second, content_type="image/png", expires_at=later(subject.clock, hours=1))
    assert await subject.read("k.png") == second


async def test_delete_removes_and_tolerates_missing_objects(subject: StoreUnderTest):
    await subject.store.put("gone.png", png(), content_type="image/png", expires_at=later(subject.clock, hours=1))
    await subject.store.delete("gone.png")
    await subject.store.delete("gone.png")  # again: not an error
    await subject.store.delete("never-existed.png")
    with pytest.raises(FileNotFoundError):
        await subject.store.open("gone.png")


async def test_sweep_deletes_only_objects_past_their_retention(subject: StoreUnderTest):
    store, clock = subject.store, subject.clock
    await store.put("t/short.png", png(), content_type="image/png", expires_at=later(clock, hours=1))
    await store.put("t/long.png", png(), content_type="image/png", expires_at=later(clock, hours=5))
    assert await store.sweep(clock.now) == 0
    assert await store.sweep(later(clock, hours=2)) == 1
    with pytest.raises(FileNotFoundError):
        await store.open("t/short.png")
    assert len(await subject.read("t/long.png")) > 0
    assert await store.sweep(later(clock, hours=6)) == 1
    assert await store.sweep(later(clock, hours=7)) == 0


async def test_a_later_put_extends_retention_past_an_earlier_sweep(subject: StoreUnderTest):
    store, clock = subject.store, subject.clock
    await store.put("again.png", png(), content_type="image/png", expires_at=later(clock, hours=1))
    await store.put("again.png", png(), content_type="image/png", expires_at=later(clock, hours=10))
    assert await store.sweep(later(clock, hours=2)) == 0
    assert len(await subject.read("again.png")) > 0


async def test_an_object_past_its_retention_is_gone_before_the_sweep(subject: StoreUnderTest):
    await subject.store.put("old.png", png(), content_type="image/png", expires_at=later(subject.clock, hours=1))
    subject.clock.now = later(subject.clock, hours=2)
    with pytest.raises(FileNotFoundError):
        await subject.store.open("old.png")


@pytest.mark.parametrize(
    "key",
    [
        "../escape.png",
        "a/../../escape.png",
        "/etc/passwd",
        "a//b.png",
        ".hidden",
        "a/.retention/x",
        "a\\b",
        "",
        "é.png",
    ],
)
async def test_keys_that_could_escape_the_root_are_refused(subject: StoreUnderTest, key: str):
    with pytest.raises(InvalidKey):
        await subject.store.put(key, b"x", content_type="image/png", expires_at=later(subject.clock, hours=1))
    with pytest.raises(InvalidKey):
        await subject.store.open(key)
    with pytest.raises(InvalidKey):
        await subject.store.delete(key)
    with pytest.raises(InvalidKey):
        await subject.store.url(key, expires_at=later(subject.clock, hours=1))
