"""Building the image store, its retention and its sweeper from settings (for ``app.py``; a builder like ``wiring``)."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import redis.asyncio as aioredis
from sqlalchemy import Engine

from imagegate.config.file import StorageConfig
from imagegate.config.settings import Settings
from imagegate.domain.url_signing import UrlSigner
from imagegate.service.image_storage import ImageStorage, Retention
from imagegate.service.retention import LocalSweepLock, Sweeper, SweepLock
from imagegate.storage.local import LocalImageStore
from imagegate.store.sweep_lock import PostgresSweepLock, RedisSweepLock

SECRET_FILE = "storage-secret"


@dataclass
class StorageRuntime:
    """The configured storage: the service over it, its sweeper, the local link signer (None for S3)."""

    storage: ImageStorage
    sweeper: Sweeper
    signer: UrlSigner | None
    aclose: Callable[[], Awaitable[None]]


class StorageSettingsError(ValueError):
    """The storage settings are incomplete; the message names the missing setting."""


def signing_secret(settings: Settings) -> bytes:
    """``IMAGEGATE_STORAGE_SECRET``, else a random secret generated once into the data directory.

    Created with a link step so concurrent workers starting together agree on one secret.
    """
    if settings.storage_secret is not None and settings.storage_secret.get_secret_value() != "":
        return settings.storage_secret.get_secret_value().encode()
    path = settings.data_dir / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{SECRET_FILE}-{secrets.token_hex(8)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)  # fails if another process won the race: its secret stands
        temp.unlink()
    return Path(path).read_text().strip().encode()


def retention_from(config: StorageConfig) -> Retention:
    """The configured lifetimes as a ``Retention``."""
    return Retention(
        default=timedelta(seconds=config.retention),
        teams={team: timedelta(seconds=seconds) for team, seconds in config.teams.items()},
    )


def _sweep_lock(engine: Engine, redis: aioredis.Redis | None) -> SweepLock:
    if redis is not None:
        return RedisSweepLock(redis)
    if engine.dialect.name == "postgresql":
        return PostgresSweepLock(engine)
    return LocalSweepLock()


def build_storage(
    settings: Settings, config: StorageConfig, *, engine: Engine, redis: aioredis.Redis | None
) -> StorageRuntime | None:
    """The store ``IMAGEGATE_STORAGE`` names, or None when storage is off."""
    if settings.storage == "none":
        return None
    retention = retention_from(config)
    lock = _sweep_lock(engine, redis)
    if settings.storage == "local":
        signer = UrlSigner(signing_secret(settings), base_url=settings.public_url)
        local = LocalImageStore(settings.images_dir(), signer)
        return StorageRuntime(
            storage=ImageStorage(local, retention),
            sweeper=Sweeper(local, lock, interval_s=settings.storage_sweep_interval_s),
            signer=signer,
            aclose=_nothing,
        )
    if settings.s3_bucket is None or settings.s3_bucket == "":
        raise StorageSettingsError("IMAGEGATE_STORAGE=s3 needs IMAGEGATE_S3_BUCKET")
    # Imported here: botocore takes about a second to import, which local storage never needs.
    from imagegate.storage.s3 import S3ImageStore, S3Settings

    secret = settings.s3_secret_access_key
    s3 = S3ImageStore(
        S3Settings(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url or None,
            region=settings.s3_region or None,
            access_key_id=settings.s3_access_key_id or None,
            secret_access_key=None if secret is None else secret.get_secret_value(),
            path_style=settings.s3_path_style,
            prefix=settings.s3_prefix,
            public_endpoint_url=settings.s3_public_endpoint_url or None,
        )
    )
    return StorageRuntime(
        storage=ImageStorage(s3, retention),
        sweeper=Sweeper(s3, lock, interval_s=settings.storage_sweep_interval_s),
        signer=None,
        aclose=s3.aclose,
    )


async def _nothing() -> None:
    return None
