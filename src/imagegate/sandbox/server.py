"""Running the sandbox with uvicorn: in the foreground (:func:`run_sandbox`, for the CLI) or in a
background thread on a free port (:class:`SandboxServer`, :func:`running_sandbox`, for tests).

Example::

    with running_sandbox(SandboxConfig()) as base_url:
        client = OpenAI(base_url=base_url + "/v1", api_key="sk-test")
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from imagegate.sandbox.app import build_sandbox_app, sandbox_state
from imagegate.sandbox.config import SandboxConfig

__all__ = ["SandboxServer", "run_sandbox", "running_sandbox"]


def _install_transport_lookup(app: Starlette, server: uvicorn.Server) -> None:
    """Let the reset and truncation faults find the connection of a request (ASGI offers no way).

    uvicorn keeps its live protocol objects in ``server_state.connections``; each has ``client``
    (the same tuple as the ASGI scope's) and ``transport``.
    """

    def lookup(client: tuple[str, int]) -> asyncio.Transport | None:
        for connection in list(server.server_state.connections):
            if getattr(connection, "client", None) == client:
                # Duck-typed: uvloop's transports are not asyncio.Transport subclasses, but have abort().
                transport = getattr(connection, "transport", None)
                return transport if hasattr(transport, "abort") else None
        return None

    sandbox_state(app).transport_lookup = lookup


def run_sandbox(
    host: str = "127.0.0.1",
    port: int = 8090,
    config: SandboxConfig | None = None,
    *,
    log_level: str = "info",
    access_log: bool | None = None,
) -> None:
    """Serve the sandbox in the foreground until interrupted (Ctrl-C). For the CLI.

    ``access_log`` None means on, except in benchmark mode, where a log line per request would be
    part of what gets measured.
    """
    config = SandboxConfig() if config is None else config
    if access_log is None:
        access_log = config.fixed_image_bytes is None and config.fixed_delay_ms is None
    app = build_sandbox_app(config)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level,
            access_log=access_log,
            timeout_graceful_shutdown=5,
            timeout_keep_alive=KEEP_ALIVE_S,
        )
    )
    _install_transport_lookup(app, server)
    server.run()


# Idle keep-alive connections are kept as long as providers' front ends keep them (the gateway's own
# is 75 s), past the gateway pool's 15 s: with uvicorn's default of 5 s the sandbox closed idle
# connections the gateway was about to reuse, and a request sent at that instant failed to connect,
# which real providers do not make happen every few seconds.
KEEP_ALIVE_S = 75


class SandboxServer:
    """A sandbox on a background thread. ``start()`` returns the base URL (``http://host:port``,
    without ``/v1``); ``stop()`` shuts it down. Also a context manager.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        self.app = build_sandbox_app(config)
        self._host = host
        self._port = port
        # log_config=None: leave the host process's logging setup alone (tests, the gateway).
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                log_level=log_level,
                log_config=None,
                access_log=False,
                timeout_graceful_shutdown=2,
                timeout_keep_alive=KEEP_ALIVE_S,
            )
        )
        _install_transport_lookup(self.app, self._server)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.base_url = ""

    def start(self, timeout: float = 10.0) -> str:
        """Bind, start serving, wait until ready; returns the base URL."""
        if self._thread is not None:
            raise RuntimeError("sandbox server already started")
        # Binding here (port 0 = any free port) means the port is known before uvicorn starts and
        # cannot be taken by someone else in between.
        sock = socket.socket(socket.AF_INET6 if ":" in self._host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        port = sock.getsockname()[1]
        host = f"[{self._host}]" if ":" in self._host else self._host
        self.base_url = f"http://{host}:{port}"

        def serve() -> None:
            try:
                self._server.run(sockets=[sock])
            except BaseException as exc:  # reported by start(); a thread cannot raise to its caller
                self._error = exc
            finally:
                sock.close()

        self._thread = threading.Thread(target=serve, name=f"imagegate-sandbox-{port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"sandbox server failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("sandbox server did not start in time")
            time.sleep(0.005)
        return self.base_url

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to exit and wait for its thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextmanager
def running_sandbox(config: SandboxConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run a sandbox on a free port for the duration of the ``with`` block; yields its base URL."""
    server = SandboxServer(config, host=host, port=port)
    server.start()
    try:
        yield server.base_url
    finally:
        server.stop()
