"""``imagegate serve --workers 2`` as an operator runs it: a real process tree over an SQLite file and
the sandbox, a request served by each worker (told apart by ``/healthz``'s ``worker`` pid), a
``/metrics`` scrape that sums both workers, then a clean exit on SIGTERM. Over PostgreSQL and Redis,
the two workers are one gateway: a rate limit, a breaker and an idempotency key hold across them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import httpx
import redis

from imagegate.accounting.keys import generate_key
from imagegate.domain.limits import Limits
from imagegate.store.database import make_engine
from imagegate.store.keys import SqlKeyStore
from tests.store.fixtures import migrated_sqlite_engine, require_postgres, throwaway_pg_database
from tests.support.metrics import samples, value

REDIS_URL = os.environ.get("IMAGEGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
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


@contextmanager
def _serving_two_workers(config: Path, env: dict[str, str]) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "imagegate.cli", "serve", "--workers", "2", "--port", "0", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield _url_from(process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _client_per_worker(url: str) -> list[httpx.Client]:
    """Two keep-alive clients, each connected to a different worker (a connection stays on its worker)."""
    pinned: dict[int, httpx.Client] = {}
    deadline = time.monotonic() + 60
    while len(pinned) < 2:
        assert time.monotonic() < deadline, f"only workers {sorted(pinned)} answered"
        client = httpx.Client(base_url=url, timeout=30, limits=httpx.Limits(max_connections=1))
        try:
            worker = client.get("/healthz").json()["worker"]
        except httpx.ConnectError:
            client.close()
            time.sleep(0.1)  # the workers are still starting
            continue
        if worker in pinned:
            client.close()
        else:
            pinned[worker] = client
    return list(pinned.values())


def test_two_workers_share_limits_breakers_and_idempotency(sandbox_url: str, sandbox_control: httpx.Client, tmp_path):
    require_postgres()
    alias = f"workers-{uuid.uuid4().hex[:8]}"  # route names, hence breaker keys in Redis, unique to this test
    prefix = f"imagegate-test-{alias}:"
    route = "api_key: k\n        timeout: 10"
    config = tmp_path / "imagegate.yaml"
    config.write_text(
        f"models:\n  - name: {alias}\n    retry: {{max_attempts_per_route: 1}}\n    routes:\n"
        f"      - provider: openai\n        model: gpt-image-2\n        base_url: {sandbox_url}/v1\n        {route}\n"
        f"      - provider: gemini\n        model: gemini-2.5-flash-image\n        base_url: {sandbox_url}\n"
        f"        {route}\n"
        "breaker: {consecutive_failures: 2, cooldown: 60}\n"
    )
    with throwaway_pg_database() as database_url:
        engine = make_engine(database_url)
        keys = SqlKeyStore(engine)
        plain, limited = generate_key(), generate_key()
        keys.create_key(name="plain", prefix=plain.prefix, key_hash=plain.key_hash, models=None)
        keys.create_key(
            name="rpm-2", prefix=limited.prefix, key_hash=limited.key_hash, models=None, limits=Limits(rpm=2)
        )
        engine.dispose()
        env = {
            **os.environ,
            "IMAGEGATE_DATA_DIR": str(tmp_path),
            "IMAGEGATE_DATABASE_URL": database_url.render_as_string(hide_password=False),
            "IMAGEGATE_REDIS_URL": REDIS_URL,
            "IMAGEGATE_ADMISSION_REDIS_PREFIX": prefix,
            "IMAGEGATE_LOG_LEVEL": "warning",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        }
        (tmp_path / "metrics").mkdir()
        with _serving_two_workers(config, env) as url:
            first, second = _client_per_worker(url)
            try:
                request = {"model": alias, "prompt": "a lighthouse"}
                auth = {"authorization": f"Bearer {plain.secret}"}

                # A rate limit: two requests through the first worker use the key's minute up,
                # so the second worker refuses the third.
                rpm = {"authorization": f"Bearer {limited.secret}"}
                served = [first.post("/v1/images/generations", json=request, headers=rpm) for _ in range(2)]
                assert [response.status_code for response in served] == [200, 200]
                refused = second.post("/v1/images/generations", json=request, headers=rpm)
                assert refused.status_code == 429, refused.text

                # A breaker: two failures of the OpenAI route on the first worker open it on the second.
                sandbox_control.post("/_sandbox/faults", json={"fault": "500", "count": 2, "model": "gpt-image-2"})
                for _ in range(2):
                    assert first.post("/v1/images/generations", json=request, headers=auth).status_code == 200
                sandbox_control.delete("/_sandbox/requests")
                fallback = second.post("/v1/images/generations", json=request, headers=auth)
                assert fallback.status_code == 200, fallback.text
                assert fallback.headers["x-imagegate-route"] == f"{alias}/gemini/gemini-2.5-flash-image"
                assert sandbox_control.get("/_sandbox/requests").json()["count"] == 1  # OpenAI not called

                # An idempotency key: the second worker replays what the first one answered.
                again = {**auth, "idempotency-key": uuid.uuid4().hex}
                once = first.post("/v1/images/generations", json=request, headers=again)
                replayed = second.post("/v1/images/generations", json=request, headers=again)
                assert once.status_code == 200
                assert replayed.headers["idempotent-replayed"] == "true" and replayed.content == once.content
                assert sandbox_control.get("/_sandbox/requests").json()["count"] == 2  # one provider call
            finally:
                first.close()
                second.close()
    client = redis.Redis.from_url(REDIS_URL)
    stale = [
        *client.scan_iter(match=f"{prefix}*"),
        *client.scan_iter(match=f"imagegate:breaker:{alias}/*"),
        *client.scan_iter(match=f"imagegate:idem:*:{again['idempotency-key']}"),
    ]
    assert len(stale) >= 3  # the shared state really lived in Redis
    client.delete(*stale)
