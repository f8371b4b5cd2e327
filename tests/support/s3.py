"""A real S3-compatible server for tests: moto's server mode (``moto[server]``) as a subprocess."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx

from tests.support.gateway import free_port

# moto accepts any credentials (it does not check signatures); these are what the tests use.
ACCESS_KEY = "AKIAIMAGEGATETEST"
SECRET_KEY = "imagegate-test-secret"
REGION = "us-east-1"


@contextlib.contextmanager
def running_s3_server() -> Iterator[str]:
    """Start ``python -m moto.server`` on a free port; yield its endpoint URL; stop it."""
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the moto S3 server did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def new_bucket(endpoint: str) -> str:
    """Create a uniquely named bucket on the server and return its name."""
    name = f"imagegate-test-{uuid.uuid4().hex[:16]}"
    response = httpx.put(f"{endpoint}/{name}")
    response.raise_for_status()
    return name
