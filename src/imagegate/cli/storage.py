"""``imagegate storage sweep``: one retention round now (cron, or after shortening a retention)."""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as aioredis
import typer

from imagegate.cli.common import config_from, console, fail, settings_from_env
from imagegate.storage_setup import StorageRuntime, StorageSettingsError, build_storage
from imagegate.store.database import make_engine

storage_app = typer.Typer(help="Stored images (URL responses).", no_args_is_help=True)


async def _round(runtime: StorageRuntime, redis: aioredis.Redis | None) -> int | None:
    try:
        return await runtime.sweeper.sweep_once()
    finally:
        await runtime.aclose()
        if redis is not None:
            await redis.aclose()


@storage_app.command("sweep")
def sweep(as_json: bool = typer.Option(False, "--json", help="Print the result as JSON.")) -> None:
    """Delete the stored images past their retention, under the same lock the servers take."""
    settings = settings_from_env()
    config = config_from(None, settings)
    engine = make_engine(settings.resolved_database_url())
    redis = None if settings.redis_url is None else aioredis.Redis.from_url(settings.redis_url)
    try:
        runtime = build_storage(settings, config.storage, engine=engine, redis=redis)
        if runtime is None:
            raise fail("image storage is off (IMAGEGATE_STORAGE=none)")
        deleted = asyncio.run(_round(runtime, redis))
    except StorageSettingsError as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    if as_json:
        print(json.dumps({"deleted": deleted, "skipped": deleted is None}))
    elif deleted is None:
        console.print("another replica is sweeping right now; nothing done")
    else:
        console.print(f"deleted {deleted} stored images past their retention")
