"""``imagegate serve`` in one process (uvicorn's server with a one-second tick): it answers with a
``date`` header, and SIGTERM still stops it (the tick no longer polls for it: the signal wakes it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx

from tests.cli.test_serve_workers import _url_from


def test_one_process_serves_with_a_date_header_and_stops_on_sigterm(tmp_path: Path):
    env = {
        **os.environ,
        "IMAGEGATE_DATA_DIR": str(tmp_path),
        "IMAGEGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'imagegate.db'}",
        "IMAGEGATE_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "imagegate.cli", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _url_from(process)
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline and process.poll() is None, "serve never became healthy"
            try:
                answer = httpx.get(url + "/healthz", timeout=5)
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert answer.status_code == 200
        served_at = parsedate_to_datetime(answer.headers["date"]).timestamp()
        assert abs(served_at - time.time()) < 5  # the tick keeps the header current
        process.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal it caught once its shutdown is done: that is the exit status.
        assert process.wait(timeout=30) == -signal.SIGTERM
        stderr = process.stderr.read() if process.stderr else ""
        assert "Traceback" not in stderr, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
