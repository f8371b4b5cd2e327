"""Two gateway replicas on one PostgreSQL and one Redis: budgets, image quotas and rates hold under storms.

The replicas are two ``imagegate serve`` processes, each with its own data directory; the only state
they share is the database and Redis. The test reads both (its own engine) and creates keys in the
database directly, as ``imagegate keys create`` would.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml
from sqlalchemy import Engine

from imagegate.domain.limits import Limits
from imagegate.store import make_engine
from imagegate.store.redis_admission import RedisAdmissionStore
from imagegate.store.sql_admission import ledger_seeder
from imagegate.wiring import redis_client_for
from tests.e2e.admission_support import (
    MEDIUM_QUOTE,
    MODEL,
    assert_one_row_per_call,
    bucket,
    limited_key,
    mixed_body,
    settled_state,
    stable_ledger_rows,
    storm,
    wait_in_flight,
)
from tests.store.fixtures import require_postgres, throwaway_pg_database
from tests.store.redis_fixtures import REDIS_URL
from tests.support.gateway import running_gateway
from tests.support.serve_processes import serve_processes

pytestmark = pytest.mark.postgres

BUDGET = 20 * MEDIUM_QUOTE  # about twenty sandbox images


FAULTY = "faulty-mini"  # the same model, with a short timeout for hanging calls


def _document(sandbox_url: str) -> dict[str, Any]:
    def alias(name: str, timeout: float) -> dict[str, Any]:
        route = {"provider": "openai", "model": MODEL, "base_url": sandbox_url + "/v1", "api_key": "k"}
        return {
            "name": name,
            # The catalog lists a shutdown date for the model; the sandbox still serves it.
            "after_shutdown": "keep",
            "retry": {"max_attempts_per_route": 2, "base_delay": 0.05},
            "routes": [{**route, "timeout": timeout}],
        }

    return {
        "models": [alias(MODEL, 10), alias(FAULTY, 1)],
        "breaker": {"consecutive_failures": 100_000, "failure_rate": 1.0, "min_calls": 100_000},
    }


@pytest.fixture(scope="module")
def prefix() -> Iterator[str]:
    name = f"imagegate-test-admission-e2e:{uuid.uuid4().hex}:"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    stale = list(client.scan_iter(match=name + "*"))
    if stale:
        client.delete(*stale)
    client.close()


@dataclass
class Replica:
    """A gateway process: its URL, and the test's engine on the database every replica shares."""

    url: str
    engine: Engine


def _replica_env(database_url: str, data_dir: Path, prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "IMAGEGATE_DATA_DIR": str(data_dir),
        "IMAGEGATE_DATABASE_URL": database_url,
        "IMAGEGATE_AUTO_MIGRATE": "false",  # the throwaway database is migrated already
        "IMAGEGATE_REDIS_URL": REDIS_URL,
        "IMAGEGATE_ADMISSION_REDIS_PREFIX": prefix,
        "IMAGEGATE_AUTH_CACHE_TTL_S": "0",  # keys created directly in the database work at once
        "IMAGEGATE_SHUTDOWN_GRACE_S": "5",
        "IMAGEGATE_LOG_LEVEL": "warning",
    }


@pytest.fixture(scope="module")
def replicas(sandbox_url: str, prefix: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Replica]]:
    workdir = tmp_path_factory.mktemp("replicas")
    config = workdir / "imagegate.yaml"
    config.write_text(yaml.safe_dump(_document(sandbox_url)))
    with throwaway_pg_database(require_postgres(), prefix="imagegate_admission") as url:
        rendered = url.render_as_string(hide_password=False)
        envs = []
        for index in range(2):
            (workdir / f"data-{index}").mkdir()
            envs.append(_replica_env(rendered, workdir / f"data-{index}", prefix))
        engine = make_engine(url)
        with serve_processes(envs, config, workdir) as urls:
            yield [Replica(replica_url, engine) for replica_url in urls]
        engine.dispose()


@pytest.fixture
async def store(replicas: list[Replica], prefix: str) -> AsyncIterator[RedisAdmissionStore]:
    """The admission state as the replicas see it."""
    client = redis_client_for(REDIS_URL)
    yield RedisAdmissionStore(client, ledger_seeder(replicas[0].engine), prefix=prefix)
    await client.aclose()


def _provider_calls(sandbox_control: httpx.Client) -> int:
    return int(sandbox_control.get("/_sandbox/requests").json()["count"])


async def test_a_budget_holds_over_two_replicas_under_200_concurrent_requests(replicas, store, sandbox_control):
    key = limited_key(replicas[0].engine, "budget-storm", Limits(budget_micros=BUDGET))
    sandbox_control.delete("/_sandbox/requests")
    rng = random.Random(10)
    answers = await storm(replicas, key.secret, [mixed_body(rng, "storm [sandbox:slow=0.05]") for _ in range(200)])

    ok = [a for a in answers if a.status == 200]
    refused = [a for a in answers if a.status != 200]
    assert ok and refused
    assert {(a.status, a.code) for a in refused} == {(429, "budget_exceeded")}
    calls = _provider_calls(sandbox_control)  # every call answered: the storm is over
    rows = stable_ledger_rows(replicas[0].engine, key.name, at_least=calls)
    assert sum(row.cost_micros for row in rows) <= BUDGET
    assert_one_row_per_call(rows, calls)
    assert sum(len(a.body["data"]) for a in ok) == sum(row.images for row in rows)
    state = await settled_state(store, f"key:{key.key_id}", [bucket("usd")])
    assert state[bucket("usd")] == (sum(row.cost_micros for row in rows), 0)  # exact, and nothing left held


async def test_an_image_quota_counts_images_not_requests(replicas, store, sandbox_control):
    key = limited_key(replicas[0].engine, "quota-storm", team=Limits(image_quota=30, max_concurrent=40))
    sandbox_control.delete("/_sandbox/requests")
    rng = random.Random(11)
    answers = await storm(replicas, key.secret, [mixed_body(rng, "q [sandbox:slow=0.05]", max_n=4) for _ in range(80)])

    refused = [a for a in answers if a.status != 200]
    assert refused and {a.code for a in refused} <= {"image_quota_exceeded", "concurrency_limit_exceeded"}
    assert "image_quota_exceeded" in {a.code for a in refused}
    calls = _provider_calls(sandbox_control)
    rows = stable_ledger_rows(replicas[0].engine, key.name, at_least=calls)
    assert 0 < sum(row.images for row in rows) <= 30
    assert_one_row_per_call(rows, calls)
    assert all(row.team == "quota-storm-team" for row in rows)
    holder = "team:quota-storm-team"
    state = await settled_state(store, holder, [bucket("img"), "conc"])
    assert state == {bucket("img"): (sum(row.images for row in rows), 0), "conc": (0, 0)}


async def test_requests_and_images_per_minute_hold_across_replicas(replicas, sandbox_control):
    requests_key = limited_key(replicas[0].engine, "rpm-storm", Limits(rpm=25))
    answers = await storm(replicas, requests_key.secret, [{"model": MODEL, "prompt": "r", "quality": "low"}] * 60)
    assert sum(a.status == 200 for a in answers) == 25
    refused = [a for a in answers if a.status != 200]
    assert {a.code for a in refused} == {"rate_limit_exceeded"}
    assert all(a.headers["x-ratelimit-limit-requests"] == "25" for a in refused)
    assert all(a.headers["x-ratelimit-remaining-requests"] == "0" for a in refused)
    assert all(int(a.headers["retry-after"]) >= 1 for a in refused)

    images_key = limited_key(replicas[0].engine, "ipm-storm", team=Limits(ipm=12))
    rng = random.Random(12)
    bodies = [{"model": MODEL, "prompt": "i", "quality": "low", "n": rng.randint(1, 3)} for _ in range(40)]
    answers = await storm(replicas, images_key.secret, bodies)
    assert 10 <= sum(a.body["data"].__len__() for a in answers if a.status == 200) <= 12
    assert {a.code for a in answers if a.status != 200} == {"rate_limit_exceeded"}


async def test_faults_and_hang_ups_leak_no_reservation(replicas, store, sandbox_control):
    # A budget large enough that every request is admitted: the point is what happens to their holds.
    key = limited_key(replicas[0].engine, "fault-storm", Limits(budget_micros=100 * BUDGET, max_concurrent=200))
    sandbox_control.delete("/_sandbox/requests")
    rng = random.Random(13)
    faults = ["[sandbox:500]", "[sandbox:hang]", "[sandbox:reset]", "[sandbox:truncated]", "", ""]
    bodies = [{**mixed_body(rng, f"f {rng.choice(faults)}"), "model": FAULTY} for _ in range(120)]
    answers = await storm(replicas, key.secret, bodies)
    assert {a.status for a in answers} >= {200, 502, 504}
    # Clients hanging up mid-request (after the storm, so each reaches its gateway before it gives up).
    gone = [{**mixed_body(rng, "gone [sandbox:slow=2]"), "_client_timeout": 0.3} for _ in range(6)]
    assert {a.status for a in await storm(replicas, key.secret, gone)} == {0}

    state = await settled_state(store, f"key:{key.key_id}", [bucket("usd"), "conc"])
    calls = _provider_calls(sandbox_control)  # nothing held: every attempt, hung-up ones too, is over
    rows = stable_ledger_rows(replicas[0].engine, key.name, at_least=calls)
    assert state == {bucket("usd"): (sum(row.cost_micros for row in rows), 0), "conc": (0, 0)}
    assert sum(row.cost_micros for row in rows) <= 100 * BUDGET
    assert any(row.client_disconnected for row in rows)
    assert_one_row_per_call(rows, calls)


async def test_redis_losing_its_state_mid_run_keeps_the_budget(replicas, store, sandbox_control, sandbox_url, prefix):
    key = limited_key(replicas[0].engine, "redis-loss", Limits(budget_micros=BUDGET))
    rng = random.Random(14)
    cheap = {"model": MODEL, "quality": "low", "size": "1024x1024"}
    sandbox_control.delete("/_sandbox/requests")
    before = await storm(replicas, key.secret, [{**cheap, "prompt": "before"} for _ in range(6)])
    since = time.time()
    bodies = [{**cheap, "prompt": "in flight [sandbox:slow=0.8]"} for _ in range(4)]
    async with _background_storm(replicas, key.secret, bodies):
        await wait_in_flight(sandbox_url, since, 4, "slow")
        # A restart takes longer than the ledger writer's flush interval (50 ms): rows of requests
        # settled before the loss are in the database by the time counters are rebuilt. (A short
        # quiet time: the in-flight calls must still be running when Redis loses its state.)
        answered = sum(a.status == 200 for a in before)
        stable_ledger_rows(replicas[0].engine, key.name, at_least=answered, quiet_s=0.1)
        client = redis.Redis.from_url(REDIS_URL)
        client.delete(*client.scan_iter(match=prefix + "*"))  # Redis restarted empty
        client.close()
        after = await storm(replicas, key.secret, [mixed_body(rng, "after") for _ in range(100)])
    assert {a.code for a in after if a.status != 200} == {"budget_exceeded"}
    rows = stable_ledger_rows(replicas[0].engine, key.name, at_least=_provider_calls(sandbox_control))
    assert sum(row.cost_micros for row in rows) <= BUDGET
    state = await settled_state(store, f"key:{key.key_id}", [bucket("usd")])
    spent, held = state[bucket("usd")]
    # The rebuilt counter holds the in-flight attempts at their quotes (never less than the ledger).
    assert held == 0 and spent >= sum(row.cost_micros for row in rows)


def test_an_unreachable_redis_refuses_limited_keys_without_calling_a_provider(sandbox_url, sandbox_control, tmp_path):
    from tests.store.fixtures import migrated_sqlite_engine

    engine = migrated_sqlite_engine(tmp_path / "down.db")
    with running_gateway(engine, _document(sandbox_url), redis_url="redis://127.0.0.1:1/0") as gateway:
        key = limited_key(engine, "redis-down", Limits(rpm=10))
        sandbox_control.delete("/_sandbox/requests")
        response = httpx.post(
            gateway.url + "/v1/images/generations",
            headers={"authorization": f"Bearer {key.secret}"},
            json={"model": MODEL, "prompt": "x"},
            timeout=30,
        )
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert _provider_calls(sandbox_control) == 0
    engine.dispose()


class _background_storm:
    """Run a storm in the background for the duration of an ``async with`` block, then await it."""

    def __init__(self, gateways: list[Replica], secret: str, bodies: list[dict[str, Any]]) -> None:
        import asyncio

        self._task = asyncio.ensure_future(storm(gateways, secret, bodies))

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        await self._task
