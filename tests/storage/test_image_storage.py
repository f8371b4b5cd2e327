"""Keeping a result's images: keys, types, per-team retention, and failures that say what happened."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest

from imagegate.config.file import StorageConfig
from imagegate.config.settings import Settings
from imagegate.domain.errors import UpstreamBadResponse
from imagegate.domain.result import GeneratedImage, ImageResult, Usage
from imagegate.service.image_storage import ImageStorage, Retention, StorageFailed
from imagegate.storage_setup import StorageSettingsError, build_storage, retention_from
from imagegate.store.database import make_engine
from tests.storage.conftest import Clock, local_store
from tests.storage.test_store_contract import png


def _result(*images: GeneratedImage) -> ImageResult:
    return ImageResult(image_count=len(images), usage=Usage(), images=list(images))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


RETENTION = Retention(default=timedelta(hours=1), teams={"design": timedelta(days=3)})


async def test_each_image_is_stored_under_the_prefix_with_its_sniffed_type(tmp_path: Path):
    clock = Clock()
    storage = ImageStorage(local_store(tmp_path, clock), RETENTION, clock=clock)
    # The provider's MIME type is a hint; the bytes decide (a PNG labelled JPEG is stored as PNG).
    result = _result(GeneratedImage(b64_json=_b64(png()), mime_type="image/jpeg"), GeneratedImage(b64_json=_b64(png())))
    stored = await storage.keep(result, key_prefix="images/req_abc", team_name=None)
    assert [(item.key, item.content_type) for item in stored] == [
        ("images/req_abc/0.png", "image/png"),
        ("images/req_abc/1.png", "image/png"),
    ]
    assert all(item.expires_at == clock.now + timedelta(hours=1) for item in stored)


async def test_a_team_with_its_own_retention_keeps_images_longer(tmp_path: Path):
    clock = Clock()
    storage = ImageStorage(local_store(tmp_path, clock), RETENTION, clock=clock)
    [stored] = await storage.keep(_result(GeneratedImage(b64_json=_b64(png()))), key_prefix="p", team_name="design")
    assert stored.expires_at == clock.now + timedelta(days=3)
    assert await storage.store.sweep(clock.now + timedelta(days=2)) == 0
    assert await storage.store.sweep(clock.now + timedelta(days=4)) == 1
    [other] = await storage.keep(_result(GeneratedImage(b64_json=_b64(png()))), key_prefix="q", team_name="sales")
    assert other.expires_at == clock.now + timedelta(hours=1)


async def test_bad_base64_is_the_providers_fault(tmp_path: Path):
    storage = ImageStorage(local_store(tmp_path, Clock()), RETENTION)
    with pytest.raises(UpstreamBadResponse):
        await storage.keep(_result(GeneratedImage(b64_json="not base64!")), key_prefix="p", team_name=None)


async def test_a_store_that_fails_says_the_images_were_generated(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the store wants a directory")
    storage = ImageStorage(local_store(blocker, Clock()), RETENTION)
    with pytest.raises(StorageFailed) as info:
        await storage.keep(_result(GeneratedImage(b64_json=_b64(png()))), key_prefix="p", team_name=None)
    assert "generated but could not be stored" in info.value.message


def test_settings_choose_the_store(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    config = StorageConfig(retention=600, teams={"design": 7200})
    try:
        assert build_storage(Settings(data_dir=tmp_path, storage="none"), config, engine=engine, redis=None) is None
        local = build_storage(Settings(data_dir=tmp_path), config, engine=engine, redis=None)
        assert local is not None and local.signer is not None
        assert local.storage.retention == retention_from(config)
        assert local.storage.retention.lifetime("design") == timedelta(hours=2)
        with pytest.raises(StorageSettingsError, match="IMAGEGATE_S3_BUCKET"):
            build_storage(Settings(data_dir=tmp_path, storage="s3"), config, engine=engine, redis=None)
    finally:
        engine.dispose()
