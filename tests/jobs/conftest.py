"""Fixtures for jobs and webhooks: a gateway over the sandbox (OpenAI and Gemini routes) with a
disk image store, quick leases and a quick webhook retry schedule, and a webhook receiver."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.store.fixtures import migrated_sqlite_engine
from tests.support.disk_store import DiskImageStore, serving_disk_store
from tests.support.flux import alias, route
from tests.support.gateway import GatewayHandle, running_gateway
from tests.support.google import google_models_config

MASTER_KEY = "sk-master-jobs-test"


def jobs_config(sandbox_url: str) -> dict[str, Any]:
    """The Google test aliases (Gemini and OpenAI routes) and FLUX on BFL and fal (submit-and-poll),
    webhooks allowed to reach 127.0.0.1."""
    document = google_models_config(sandbox_url)
    document["models"].extend(
        [
            alias("flux-2-pro", route("bfl", "flux-2-pro", sandbox_url), attempts=1),
            alias("fal-flux-2-pro", route("fal", "fal-ai/flux-2-pro", sandbox_url), attempts=1),
            # A polled host first, then a synchronous one (a failed task falls back).
            alias(
                "flux-then-gpt",
                route("bfl", "flux-2-pro", sandbox_url),
                {"provider": "openai", "model": "gpt-image-2", "base_url": f"{sandbox_url}/v1", "api_key": "sk-x"},
                attempts=1,
            ),
        ]
    )
    document["webhooks"] = {"allow_cidrs": ["127.0.0.0/8"]}
    document["breaker"] = {"consecutive_failures": 10_000, "failure_rate": 1.0, "min_calls": 10_000}
    return document


def sandbox_submissions(sandbox_url: str, since: float) -> list[dict[str, Any]]:
    """Image calls the sandbox received since ``since``."""
    records = httpx.get(sandbox_url + "/_sandbox/requests").json()["requests"]
    return [r for r in records if r["time"] >= since and r["method"] == "POST" and "images" in r["path"]]


@pytest.fixture(scope="module")
def image_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DiskImageStore]:
    """A disk image store whose files are served over HTTP."""
    with serving_disk_store(tmp_path_factory.mktemp("images")) as store:
        yield store


@pytest.fixture(scope="module")
def jobs_gateway(
    sandbox_url: str, image_store: DiskImageStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayHandle]:
    """A gateway with jobs (in-process pool) and webhooks (retries 0.1 s apart)."""
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("jobs") / "imagegate.db")
    with running_gateway(
        engine,
        jobs_config(sandbox_url),
        master_key=MASTER_KEY,
        image_store=image_store,
        jobs_lease_s=3.0,
        jobs_resume_interval_s=0.5,
        webhook_retry_schedule_s=[0.0, 0.1, 0.1],
        webhook_poll_s=0.1,
    ) as handle:
        yield handle
    engine.dispose()


@pytest.fixture
def jobs_key(jobs_gateway: GatewayHandle) -> tuple[str, str]:
    """A fresh key (its name, its secret): each test sees only its own jobs."""
    name = f"jobs-{uuid.uuid4().hex[:10]}"
    return name, jobs_gateway.create_key(name)


@dataclass
class Receiver:
    """A webhook receiver: what it was sent, and what it answers (a status per call, then 204)."""

    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    redirect_to: str | None = None
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[tuple[dict[str, str], bytes]]:
        """Until ``count`` requests arrived; them."""
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout), self.received
            return list(self.received)


@contextlib.contextmanager
def running_receiver(path: str = "/hooks") -> Iterator[Receiver]:
    """A receiver on a free 127.0.0.1 port."""
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            with receiver.arrived:
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.answers.pop(0) if receiver.answers else 204
                receiver.arrived.notify_all()
            self.send_response(status)
            if receiver.redirect_to is not None and 300 <= status < 400:
                self.send_header("location", receiver.redirect_to)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
