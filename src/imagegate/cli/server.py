"""Running the gateway under uvicorn: one process, or several workers from a factory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from uvicorn.supervisors import Multiprocess

from imagegate.app import build_runtime, create_app
from imagegate.cli.listeners import WorkerListeners
from imagegate.config.file import GatewayConfig, load_config
from imagegate.config.settings import Settings
from imagegate.telemetry.json_logs import configure_logging
from imagegate.telemetry.multiprocess import multiprocess_metrics


def uvicorn_config(
    app: Callable[..., Any] | str, *, log_level: str, grace_s: float, workers: int = 1, factory: bool = False
) -> uvicorn.Config:
    """The server settings imagegate runs with (uvloop + httptools when installed).

    ``grace_s``: on SIGTERM, how long requests in flight may still run; what runs after that is
    cancelled and answered 503 in its dialect (``api/edge.py``).
    """
    return uvicorn.Config(
        app,
        log_level=log_level,
        workers=workers,
        factory=factory,
        lifespan="on",
        timeout_keep_alive=75,
        access_log=log_level == "debug",
        server_header=False,
        timeout_graceful_shutdown=max(1, round(grace_s)),
    )


def serve_forever(settings: Settings, config: GatewayConfig, sock: socket.socket, *, workers: int = 1) -> None:
    """Serve until interrupted. With several workers each builds its own runtime from the env."""
    configure_logging(settings.log_level, settings.log_format)
    grace_s = settings.shutdown_grace_s
    if workers > 1:
        server_config = uvicorn_config(
            "imagegate.cli.server:app_from_env",
            log_level=settings.log_level,
            grace_s=grace_s,
            workers=workers,
            factory=True,
        )
        # Every worker writes its metrics to files a scrape of any worker sums (docs/observability.md).
        with multiprocess_metrics():
            # uvicorn >= 0.34: the supervisor builds each worker's Server itself (no ``target``).
            listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
            sockets = [sock] if listening else WorkerListeners(sock.getsockname()[0], sock.getsockname()[1])
            Multiprocess(server_config, sockets=sockets).run()
        return
    app = create_app(build_runtime(settings, config), freeze_startup_heap=True)
    QuietServer(uvicorn_config(app, log_level=settings.log_level, grace_s=grace_s)).run(sockets=[sock])


class QuietServer(uvicorn.Server):
    """uvicorn's server, ticking once a second instead of ten times (fewer idle wake-ups).

    uvicorn's main loop wakes every 0.1 s to see whether it should exit and, every tenth time, to
    refresh the ``date`` header. Here it sleeps a second between ticks (the header still changes
    every second) and a signal wakes it at once, so SIGTERM starts the drain as promptly as before.
    With ``--workers`` uvicorn's supervisor builds each worker's server itself: they keep its tick.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._woken: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        """Tick every second until told to exit (by a signal, at once)."""
        self._loop = asyncio.get_running_loop()
        self._woken = asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + _TICKS_PER_SECOND) % _TICK_WRAP
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._woken.wait()
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """uvicorn's signal handling, then wake the main loop so it notices now."""
        super().handle_exit(sig, frame)
        if self._loop is not None and self._woken is not None:
            self._loop.call_soon_threadsafe(self._woken.set)


# uvicorn's ``on_tick`` refreshes the date header when ``counter % 10 == 0`` (its 0.1 s ticks).
_TICKS_PER_SECOND = 10
_TICK_WRAP = 864000


def app_from_env() -> Starlette:
    """Factory for worker processes: settings and config come from the environment."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    path = os.environ.get("IMAGEGATE_CONFIG")
    config = load_config(Path(path)) if path else GatewayConfig()
    return create_app(build_runtime(settings, config), freeze_startup_heap=True)
