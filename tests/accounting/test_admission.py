"""Admission on every store (SQLite, PostgreSQL, Redis): holds, refusals, settlement, leases, periods, seeding."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy.engine import Engine

from imagegate.accounting.admission import Admission, AdmissionStore, AdmissionUnavailable, period_bucket
from imagegate.accounting.auth import Principal
from imagegate.domain.errors import (
    BudgetExceeded,
    ConcurrencyLimitExceeded,
    ImageQuotaExceeded,
    RateLimitExceeded,
    RequestExceedsLimit,
)
from imagegate.domain.limits import Limits
from imagegate.store import SqlLedgerStore, make_engine
from imagegate.store.redis_admission import RedisAdmissionStore
from imagegate.store.sql_admission import SqlAdmissionStore, ledger_seeder
from imagegate.wiring import redis_client_for
from tests.store.fixtures import migrated_sqlite_engine, require_postgres, throwaway_pg_database
from tests.store.redis_fixtures import REDIS_URL, unique_prefix
from tests.support.ledger_rows import ledger_row

START = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres), "redis"]


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("admission") / "imagegate.db")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def postgresql_db() -> Iterator[Engine]:
    with throwaway_pg_database(require_postgres(), prefix="imagegate_admission") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    async for prefix in unique_prefix("admission"):
        yield prefix


@pytest.fixture(params=STORES)
async def world(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[tuple[AdmissionStore, Engine]]:
    """An admission store and the database whose ledger seeds it."""
    if request.param == "redis":
        engine = request.getfixturevalue("sqlite_db")
        client = redis_client_for(REDIS_URL)
        yield RedisAdmissionStore(client, ledger_seeder(engine), prefix=redis_prefix), engine
        await client.aclose()
    else:
        engine = request.getfixturevalue(f"{request.param}_db")
        yield SqlAdmissionStore(engine), engine


_ids = iter(range(10_000, 10**9))


def principal(key: Limits | None = None, team: Limits | None = None) -> Principal:
    """A caller with fresh ids (stores are shared within a module)."""
    key_id = next(_ids)
    return Principal(
        key_id=key_id,
        key_name=f"key-{key_id}",
        models=None,
        team_id=None if team is None else key_id,
        team_name=None if team is None else f"team-{key_id}",
        key_limits=key if key is not None else Limits(),
        team_limits=team if team is not None else Limits(),
    )


async def held(store: AdmissionStore, holder: str, bucket: str, now: datetime = START) -> tuple[int, int]:
    return await store.usage(holder, bucket, now)


async def test_a_budget_holds_quotes_and_counts_what_was_spent(world) -> None:
    store, _ = world
    admission = Admission(store, clock=Clock())
    caller = principal(Limits(budget_micros=100_000, budget_period="day"))
    first = await admission.reserve(caller, 60_000, 1)
    with pytest.raises(BudgetExceeded) as refused:
        await admission.reserve(caller, 60_000, 1)  # 60k held + 60k > 100k
    assert refused.value.headroom.budget_remaining_micros == 40_000
    assert refused.value.retry_after is not None  # the hold in flight may settle lower
    await admission.settle(first, 30_000, 1)
    bucket = period_bucket("usd", "day", START, admission._zone)[0]
    assert await held(store, f"key:{caller.key_id}", bucket) == (30_000, 0)
    second = await admission.reserve(caller, 60_000, 1)  # 30k spent + 60k fits
    await admission.settle(second, 60_000, 1)
    await admission.settle(second, 60_000, 1)  # settling twice counts once
    assert await held(store, f"key:{caller.key_id}", bucket) == (90_000, 0)
    with pytest.raises(BudgetExceeded) as spent:
        await admission.reserve(caller, 20_000, 1)
    assert spent.value.retry_after is None  # nothing in flight: waiting does not help


async def test_a_quote_above_the_whole_budget_is_refused_as_such(world) -> None:
    store, _ = world
    admission = Admission(store, clock=Clock())
    with pytest.raises(RequestExceedsLimit, match=r"more than the key's whole day budget of \$0\.05") as refused:
        await admission.reserve(principal(Limits(budget_micros=50_000, budget_period="day")), 50_001, 1)
    assert refused.value.code == "request_exceeds_budget"
    with pytest.raises(RequestExceedsLimit) as images:
        await admission.reserve(principal(Limits(image_quota=3)), 0, 4)
    assert (images.value.code, images.value.param) == ("request_exceeds_image_quota", "n")


async def test_key_and_team_must_both_pass_and_a_refusal_holds_nothing(world) -> None:
    store, _ = world
    admission = Admission(store, clock=Clock())
    caller = principal(Limits(budget_micros=1_000_000), team=Limits(image_quota=5))
    kept = await admission.reserve(caller, 100_000, 4)
    with pytest.raises(ImageQuotaExceeded) as refused:
        await admission.reserve(caller, 100_000, 2)  # the key's budget fits, the team's quota does not
    assert refused.value.holder == "team"
    usd = period_bucket("usd", "month", START, admission._zone)[0]
    assert await held(store, f"key:{caller.key_id}", usd) == (0, 100_000)  # nothing of the refused one
    await admission.release(kept)
    assert await held(store, f"key:{caller.key_id}", usd) == (0, 0)


async def test_rates_count_requests_and_images_for_a_minute(world) -> None:
    store, _ = world
    clock = Clock()
    admission = Admission(store, clock=clock)
    caller = principal(Limits(rpm=3, ipm=5))
    for count in (2, 2):
        await admission.settle(await admission.reserve(caller, 0, count), 0, count)
    with pytest.raises(RateLimitExceeded) as images:
        await admission.reserve(caller, 0, 2)  # 4 images this minute + 2 > 5
    assert images.value.retry_after == pytest.approx(60.0)
    await admission.reserve(caller, 0, 1)
    with pytest.raises(RateLimitExceeded, match="3 requests per minute") as requests:
        await admission.reserve(caller, 0, 0)
    assert requests.value.headroom.requests_limit == 3 and requests.value.headroom.requests_remaining == 0
    clock.now += timedelta(seconds=61)
    await admission.reserve(caller, 0, 5)


async def test_concurrency_counts_requests_in_flight(world) -> None:
    store, _ = world
    admission = Admission(store, clock=Clock())
    caller = principal(team=Limits(max_concurrent=2))
    first = await admission.reserve(caller, 0, 1)
    await admission.reserve(caller, 0, 1)
    with pytest.raises(ConcurrencyLimitExceeded) as refused:
        await admission.reserve(caller, 0, 1)
    assert refused.value.retry_after == 1.0
    await admission.release(first)
    await admission.reserve(caller, 0, 1)


async def test_a_crashed_reservation_lapses_with_its_lease_and_a_late_settle_counts_once(world) -> None:
    store, _ = world
    clock = Clock()
    admission = Admission(store, clock=clock, lease_s=30)
    caller = principal(Limits(budget_micros=100_000, max_concurrent=1))
    crashed = await admission.reserve(caller, 80_000, 1)  # its process dies: never settled in time
    with pytest.raises(ConcurrencyLimitExceeded):
        await admission.reserve(caller, 10_000, 1)
    clock.now += timedelta(seconds=31)
    after = await admission.reserve(caller, 80_000, 1)  # the lapsed hold counts for nothing
    await admission.settle(crashed, 5_000, 1)  # a late settle adds its spend, releases nothing of others
    usd = period_bucket("usd", "month", START, admission._zone)[0]
    assert await held(store, f"key:{caller.key_id}", usd, clock.now) == (5_000, 80_000)
    await admission.settle(after, 0, 0)
    assert await held(store, f"key:{caller.key_id}", usd, clock.now) == (5_000, 0)


async def test_periods_roll_over_in_the_configured_time_zone(world) -> None:
    store, _ = world
    clock = Clock()
    clock.now = datetime(2026, 12, 8, 22, 30, tzinfo=UTC)  # Tuesday 23:30 in Paris
    admission = Admission(store, clock=clock, timezone="Europe/Paris")
    caller = principal(Limits(budget_micros=10_000, budget_period="day", image_quota=2, quota_period="week"))
    await admission.settle(await admission.reserve(caller, 10_000, 2), 10_000, 2)
    with pytest.raises(BudgetExceeded):
        await admission.reserve(caller, 1, 0)
    clock.now += timedelta(hours=1)  # past midnight in Paris (still Tuesday in UTC): a new day, the same week
    with pytest.raises(ImageQuotaExceeded):
        await admission.reserve(caller, 1, 1)
    await admission.settle(await admission.reserve(caller, 10_000, 0), 10_000, 0)
    assert period_bucket("img", "week", clock.now, admission._zone)[0] == "img:w2026-12-07"
    clock.now = datetime(2026, 12, 13, 23, 30, tzinfo=UTC)  # Monday 00:30 in Paris: a new week
    assert period_bucket("img", "week", clock.now, admission._zone)[0] == "img:w2026-12-14"
    await admission.reserve(caller, 5_000, 2)


async def test_counters_start_from_the_ledger(world) -> None:
    store, engine = world
    caller = principal(Limits(budget_micros=100_000, image_quota=10, quota_period="total"))
    SqlLedgerStore(engine).append_entries(
        [
            # The second row is last month's.
            ledger_row(
                f"req-seed-{caller.key_id}-{i}",
                created_at=START - timedelta(days=i * 40),
                key_name=caller.key_name,
                images=4,
                cost_micros=70_000,
            )
            for i in range(2)
        ]
    )
    admission = Admission(store, clock=Clock())
    with pytest.raises(BudgetExceeded):  # this month's 70k spent before the budget existed
        await admission.reserve(caller, 40_000, 1)
    with pytest.raises(ImageQuotaExceeded):  # 8 images in total
        await admission.reserve(caller, 1_000, 3)
    await admission.reserve(caller, 30_000, 2)


async def test_two_hundred_concurrent_requests_never_overspend(world) -> None:
    store, _ = world
    admission = Admission(store, clock=Clock())
    caller = principal(Limits(budget_micros=1_000_000), team=Limits(image_quota=60, max_concurrent=8))
    rng = random.Random(7)
    outcomes: list[str] = []

    async def one(quote: int, images: int) -> None:
        try:
            reservation = await admission.reserve(caller, quote, images)
        except (BudgetExceeded, ImageQuotaExceeded, ConcurrencyLimitExceeded) as error:
            outcomes.append(error.code)
            return
        await asyncio.sleep(0)
        await admission.settle(reservation, quote * rng.randint(5, 10) // 10, images)
        outcomes.append("ok")

    await asyncio.gather(*(one(rng.choice([40_000, 80_000, 160_000]), rng.randint(1, 4)) for _ in range(200)))
    usd = period_bucket("usd", "month", START, admission._zone)[0]
    img = period_bucket("img", "month", START, admission._zone)[0]
    spent, reserved = await held(store, f"key:{caller.key_id}", usd)
    images, images_reserved = await held(store, f"team:{caller.team_name}", img)
    assert spent <= 1_000_000 and images <= 60 and reserved == 0 and images_reserved == 0
    assert await held(store, f"team:{caller.team_name}", "conc") == (0, 0)
    assert outcomes.count("ok") > 0 and set(outcomes) - {"ok"}


async def test_redis_unreachable_fails_closed(sqlite_db) -> None:
    client = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    admission = Admission(RedisAdmissionStore(client, ledger_seeder(sqlite_db)), clock=Clock())
    with pytest.raises(AdmissionUnavailable):
        await admission.reserve(principal(Limits(rpm=5)), 0, 1)
    await client.aclose()


async def test_redis_counters_lost_are_rebuilt_from_the_ledger(sqlite_db, redis_prefix) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    store = RedisAdmissionStore(client, ledger_seeder(sqlite_db), prefix=redis_prefix)
    admission = Admission(store, clock=Clock())
    caller = principal(Limits(budget_micros=100_000))
    await admission.settle(await admission.reserve(caller, 60_000, 1), 60_000, 1)
    SqlLedgerStore(sqlite_db).append_entries(
        [ledger_row(f"req-lost-{caller.key_id}", created_at=START, key_name=caller.key_name, cost_micros=60_000)]
    )
    in_flight = await admission.reserve(caller, 10_000, 1)
    keys = [key async for key in client.scan_iter(match=redis_prefix + "*")]
    await client.delete(*keys)  # Redis restarted empty
    with pytest.raises(BudgetExceeded):  # 60k spent, from the ledger
        await admission.reserve(caller, 50_000, 1)
    # Made before the loss: its spend is the ledger's to count (its row, or its pending attempt), not added again.
    await admission.settle(in_flight, 10_000, 1)
    usd = period_bucket("usd", "month", START, admission._zone)[0]
    assert await store.usage(f"key:{caller.key_id}", usd, START) == (60_000, 0)
    await admission.reserve(caller, 40_000, 1)
    await client.aclose()


def test_period_buckets_are_stable_names(tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("UTC")
    now = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    assert period_bucket("usd", "day", now, zone) == (
        "usd:d2026-03-01",
        now,
        now + timedelta(days=1),
    )
    assert period_bucket("usd", "month", now, zone)[2] == datetime(2026, 4, 1, tzinfo=UTC)
    assert period_bucket("img", "total", now, zone) == ("img:total", None, None)
