"""``imagegate serve --workers 2`` as an operator runs it: a real process tree over an SQLite file and
the sandbox, a request served by each worker (told apart by ``/healthz``'s ``worker`` pid), a
``/metrics`` scrape that sums both workers, then a clean exit on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx

from imagegate.accounting.keys import generate_key
from imagegate.domain.limits import Limits
from imagegate.store.keys import SqlKeyStore
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.metrics import samples, value

GENERATION = {"model": "gpt-image-2", "prompt": "a lighthouse", "size": "1024x1024", "quality": "low"}


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _url_from(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"listening on (http://\S+)", line)
    assert match is not None, f"serve printed: {line!r}"
    return match.group(1)


def test_two_workers_each_serve_requests_and_stop_on_sigterm(sandbox_url: str, tmp_path: Path):
    engine = migrated_sqlite_engine(tmp_path / "imagegate.db")
    new = generate_key()
    budget = Limits(budget_micros=1_000_000)  # a budget gauge, read from the database by whichever worker answers
    SqlKeyStore(engine).create_key(name="workers", prefix=new.prefix, key_hash=new.key_hash, models=None, limits=budget)
    engine.dispose()
    config = tmp_path / "imagegate.yaml"
    config.write_text(
        "models:\n  - name: gpt-image-2\n    routes:\n      - provider: openai\n        model: gpt-image-2\n"
        f"        base_url: {sandbox_url}/v1\n        api_key: sk-sandbox\n"
    )
    env = {
        **os.environ,
        "IMAGEGATE_DATA_DIR": str(tmp_path),
        "IMAGEGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'imagegate.db'}",
        "IMAGEGATE_LOG_LEVEL": "warning",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_1.db").write_bytes(b"a previous run's file")  # must be cleared
    process = subprocess.Popen(
        [sys.executable, "-m", "imagegate.cli", "serve", "--workers", "2", "--port", "0", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _url_from(process)
        served: dict[int, str] = {}
        costs: list[str] = []
        deadline = time.monotonic() + 60
        while len(served) < 2:
            assert time.monotonic() < deadline, f"only workers {sorted(served)} answered"
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            # One connection per round: its health check and its generation reach the same worker.
            try:
                with httpx.Client(base_url=url, timeout=30) as client:
                    worker = client.get("/healthz").json()["worker"]
                    if worker in served:
                        continue
                    response = client.post(
                        "/v1/images/generations", json=GENERATION, headers={"authorization": f"Bearer {new.secret}"}
                    )
            except httpx.ConnectError:
                time.sleep(0.1)  # the workers are still starting
                continue
            assert response.status_code == 200, response.text
            served[worker] = response.headers["x-request-id"]
            costs.append(response.headers["x-imagegate-cost-usd"])
        assert all(_parent_of(worker) == process.pid for worker in served)
        # Whichever worker answers the scrape, it counts the requests both served.
        found = samples(httpx.get(url + "/metrics", timeout=30).text)
        requests = {labels: count for (name, labels), count in found.items() if name == "imagegate_requests_total"}
        assert requests == {frozenset({("model", "gpt-image-2"), ("team", "none"), ("outcome", "ok")}): 2}
        spent = sum(Decimal(cost) * 1_000_000 for cost in costs)
        remaining = {"holder": "key", "name": "workers", "period": "month"}
        deadline = time.monotonic() + 30  # the ledger rows are written off the response path
        while value(found, "imagegate_budget_remaining_microusd", **remaining) != 1_000_000 - spent:
            assert time.monotonic() < deadline, value(found, "imagegate_budget_remaining_microusd", **remaining)
            time.sleep(0.1)
            found = samples(httpx.get(url + "/metrics", timeout=30).text)
        # Never summed over the workers' files: every scrape, whoever answers, reads the one figure.
        for _ in range(4):
            again = samples(httpx.get(url + "/metrics", timeout=30).text)
            assert value(again, "imagegate_budget_remaining_microusd", **remaining) == 1_000_000 - spent
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert not any(Path(f"/proc/{worker}").exists() for worker in served)
        stderr = process.stderr.read() if process.stderr else ""
        assert "Traceback" not in stderr, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
