"""Real ``imagegate serve`` OS processes for end-to-end tests of several replicas."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

SERVE = [sys.executable, "-m", "imagegate.cli", "serve", "--port", "0"]
# Start-up imports the whole gateway: slow on a machine shared by parallel test runs.
START_TIMEOUT_S = 60.0


@contextmanager
def serve_processes(envs: list[dict[str, str]], config: Path, log_dir: Path) -> Iterator[list[str]]:
    """One ``imagegate serve`` per environment, started together; their URLs once each answers ``/healthz``.

    Output goes to ``log_dir/serve-<i>.log`` (a file, not a pipe: a pipe nobody drains would block a
    process that logs a lot under a storm). Stopped with SIGTERM on exit, killed if that hangs.
    """
    logs = [log_dir / f"serve-{index}.log" for index in range(len(envs))]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for env, log in zip(envs, logs, strict=True):
            with log.open("wb") as out:
                processes.append(
                    subprocess.Popen([*SERVE, "--config", str(config)], env=env, stdout=out, stderr=subprocess.STDOUT)
                )
        deadline = time.monotonic() + START_TIMEOUT_S
        urls = [_listening_url(process, log, deadline) for process, log in zip(processes, logs, strict=True)]
        for url, process, log in zip(urls, processes, logs, strict=True):
            while not _healthy(url):
                assert time.monotonic() < deadline and process.poll() is None, f"not ready: {log.read_text()}"
                time.sleep(0.05)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _listening_url(process: subprocess.Popen[bytes], log: Path, deadline: float) -> str:
    """The URL ``serve`` prints once its socket is bound (it binds port 0 itself: no port race)."""
    while True:
        match = re.search(r"listening on (http://\S+)", log.read_text())
        if match is not None:
            return match.group(1)
        assert time.monotonic() < deadline and process.poll() is None, f"serve printed: {log.read_text()!r}"
        time.sleep(0.05)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
