"""Running the gateway under uvicorn: one process, or several workers from a factory."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
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
    app = create_app(build_runtime(settings, config))
    uvicorn.Server(uvicorn_config(app, log_level=settings.log_level, grace_s=grace_s)).run(sockets=[sock])


def app_from_env() -> Starlette:
    """Factory for worker processes: settings and config come from the environment."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    path = os.environ.get("IMAGEGATE_CONFIG")
    config = load_config(Path(path)) if path else GatewayConfig()
    return create_app(build_runtime(settings, config))
