"""Run the real gateway (uvicorn, real sockets) in a background thread for end-to-end tests."""

from __future__ import annotations

import contextlib
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import Engine

from imagegate.accounting.keys import generate_key
from imagegate.accounting.ports import LedgerEntry
from imagegate.app import Runtime, build_runtime, create_app
from imagegate.cli.server import uvicorn_config
from imagegate.config.file import parse_config
from imagegate.config.settings import Settings
from imagegate.domain.image_store import ImageStore
from imagegate.service.event_port import EventSink
from imagegate.store.keys import SqlKeyStore
from imagegate.store.ledger import SqlLedgerStore


@dataclass
class GatewayHandle:
    """A running gateway: its URL, runtime and database, with helpers tests need."""

    url: str
    runtime: Runtime
    engine: Engine
    server: uvicorn.Server | None = None

    def create_key(self, name: str, models: list[str] | None = None) -> str:
        """A fresh key's secret."""
        new = generate_key()
        SqlKeyStore(self.engine).create_key(name=name, prefix=new.prefix, key_hash=new.key_hash, models=models)
        return new.secret

    def ledger(self, request_id: str | None = None, *, wait: bool = True) -> list[LedgerEntry]:
        """Ledger rows (all, or one request's), oldest attempt first, after the writer caught up."""
        if wait:
            assert self.runtime.ledger.wait_idle(10.0), "ledger writer did not catch up"
        rows = SqlLedgerStore(self.engine).query_entries(request_id=request_id, limit=1000)
        return sorted(rows, key=lambda row: (row.created_at, row.attempt))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sandbox_models_config(
    sandbox_url: str, models: list[str], *, api_key: str = "sk-sandbox", timeout: float = 30.0
) -> dict[str, Any]:
    """Config routing each model alias to the sandbox."""
    return {
        "models": [
            {
                "name": model,
                "routes": [
                    {
                        "provider": "openai",
                        "model": model,
                        "base_url": f"{sandbox_url}/v1",
                        "api_key": api_key,
                        "timeout": timeout,
                    }
                ],
            }
            for model in models
        ]
    }


# The day the shipped catalog's lifecycle dates were last checked.
CATALOG_AS_OF = date(2026, 11, 21)


@contextlib.contextmanager
def running_gateway(
    engine: Engine,
    config_document: dict[str, Any],
    *,
    auth_cache_ttl_s: float = 0.0,
    master_key: str | None = None,
    today: Callable[[], date] | None = None,
    shutdown_grace_s: float | None = None,
    tracer_provider: Any = None,
    events: EventSink | None = None,
    image_store: ImageStore | None = None,
    **settings_fields: Any,
) -> Iterator[GatewayHandle]:
    """Build the app exactly as ``imagegate serve`` does and serve it on a free port.

    ``settings_fields`` are further ``Settings`` fields; ``data_dir`` defaults to an empty
    temporary directory, so price files installed on the host never leak into a test.
    ``today`` fixes the date model lifecycle decisions use. The default is a fixed date, the
    catalog's as-of day, so a model shutting down next month cannot turn a test red by itself;
    lifecycle tests pass their own dates. With ``shutdown_grace_s`` the server runs with
    ``imagegate serve``'s uvicorn settings and that grace (tests of the shutdown drain).
    ``tracer_provider``: an OpenTelemetry SDK provider the gateway traces into.
    """
    if today is None:
        today = lambda: CATALOG_AS_OF  # noqa: E731
    settings_fields.setdefault("data_dir", Path(tempfile.mkdtemp(prefix="imagegate-test-")))
    settings = Settings(
        database_url=str(engine.url),
        auto_migrate=False,
        auth_cache_ttl_s=auth_cache_ttl_s,
        master_key=master_key,
        **settings_fields,
    )
    runtime = build_runtime(
        settings,
        parse_config(config_document, env={}),
        engine=engine,
        today=today,
        tracer_provider=tracer_provider,
        events=events,
        image_store=image_store,
    )
    app = create_app(runtime, dispose_engine=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    if shutdown_grace_s is None:
        server_config = uvicorn.Config(app, log_level="warning", lifespan="on")
    else:
        server_config = uvicorn_config(app, log_level="warning", grace_s=shutdown_grace_s)
    server = uvicorn.Server(server_config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("gateway did not start")
        time.sleep(0.01)
    assert httpx.get(url + "/healthz").status_code == 200
    try:
        yield GatewayHandle(url=url, runtime=runtime, engine=engine, server=server)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def wait_for_calls_in_flight(sandbox_url: str, since: float, count: int, fault: str) -> None:
    """Until ``count`` provider calls with ``fault`` (e.g. ``slow``, ``hang``) made after ``since``
    (unix seconds) are in flight at the sandbox, i.e. not yet answered."""
    deadline = time.monotonic() + 10
    while True:
        records = httpx.get(sandbox_url + "/_sandbox/requests").json()["requests"]
        waiting = [r for r in records if r["time"] >= since and r["status"] is None and fault in str(r["faults"])]
        if len(waiting) >= count:
            return
        assert time.monotonic() < deadline, f"{count} '{fault}' calls never reached the sandbox"
        time.sleep(0.02)
