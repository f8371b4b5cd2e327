"""The gateway's listening sockets: one for a single process, one per worker for several.

Several workers each listen on a socket of their own, bound to the same port with
``SO_REUSEPORT`` (Linux), so the kernel spreads new connections over them by address hash. With
one socket shared by every worker, whichever worker woke first accepted a burst of keep-alive
connections and kept them for their whole life (docs/performance.md, "Workers").

This module imports nothing of the gateway: a worker unpickles its listener (``WorkerListeners``)
before uvicorn's health-check thread runs there, so that must be quick.
"""

from __future__ import annotations

import socket
from typing import Any

LISTEN_BACKLOG = 2048


def bind_socket(host: str, port: int, *, workers: int = 1) -> socket.socket:
    """The server's TCP socket (port 0 picks a free port), so the URL is known before serving.

    One process: a listening socket. Several workers where ``SO_REUSEPORT`` exists: a bound socket
    that only holds the port (it never listens, so the kernel hands it no connection); each
    worker listens on a socket of its own on that port (``WorkerListeners``).
    """
    sock = _tcp_socket(host, reuse_port=workers > 1 and _HAS_REUSE_PORT)
    sock.bind((host, port))
    if workers == 1 or not _HAS_REUSE_PORT:
        sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


_HAS_REUSE_PORT = hasattr(socket, "SO_REUSEPORT")


def _tcp_socket(host: str, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


def worker_listener(host: str, port: int) -> socket.socket:
    """A worker's own listening socket on the shared port (``SO_REUSEPORT``)."""
    sock = _tcp_socket(host, reuse_port=True)
    sock.bind((host, port))
    sock.listen(LISTEN_BACKLOG)
    return sock


def _listeners_in_worker(host: str, port: int) -> WorkerListeners:
    return WorkerListeners(host, port, [worker_listener(host, port)])


class WorkerListeners(list[socket.socket]):
    """The sockets uvicorn hands each worker: every worker unpickles a listener of its own.

    uvicorn's supervisor pickles one list of sockets into every worker it spawns (and into each
    replacement of a worker that died). This list pickles as the address alone, so unpickling it
    in a worker binds a fresh ``SO_REUSEPORT`` listener there instead of sharing one socket.
    """

    def __init__(self, host: str, port: int, sockets: list[socket.socket] | None = None) -> None:
        super().__init__(sockets or [])
        self.host = host
        self.port = port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        """Pickled as the address: the worker that unpickles it binds its own listener."""
        return (_listeners_in_worker, (self.host, self.port))


def url_of(sock: socket.socket, host: str) -> str:
    """``http://host:port`` for a bound socket."""
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else (f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{port}"
