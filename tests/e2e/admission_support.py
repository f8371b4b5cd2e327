"""Helpers for the admission end-to-end tests: limited keys, storms over replicas, the state left behind."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Engine

from imagegate.accounting.admission import AdmissionStore, period_bucket
from imagegate.accounting.keys import generate_key
from imagegate.accounting.ports import LedgerEntry
from imagegate.domain.limits import Limits
from imagegate.store import SqlKeyStore, SqlLedgerStore
from imagegate.store.teams import SqlTeamStore
from tests.support.gateway import GatewayHandle

MODEL = "gpt-image-1-mini"
# The quote of one medium 1024x1024 image of the model (the pricing engine's upper bound).
MEDIUM_QUOTE = 11_004
SIZES = ["1024x1024", "1536x1024", "1024x1536"]
QUALITIES = ["low", "medium", "high"]


@dataclass
class LimitedKey:
    secret: str
    name: str
    key_id: int
    team_id: int | None


def limited_key(engine: Engine, name: str, key: Limits | None = None, team: Limits | None = None) -> LimitedKey:
    """A key with these limits (and a team of its own with ``team``'s)."""
    team_id = None
    if team is not None:
        team_id = SqlTeamStore(engine).create_team(name=f"{name}-team", limits=team).id
    new = generate_key()
    record = SqlKeyStore(engine).create_key(
        name=name, prefix=new.prefix, key_hash=new.key_hash, models=None, limits=key, team_id=team_id
    )
    return LimitedKey(new.secret, name, record.id, team_id)


def mixed_body(rng: random.Random, prompt: str, *, max_n: int = 2) -> dict[str, Any]:
    """A generation with a random size, quality and n."""
    return {
        "model": MODEL,
        "prompt": prompt,
        "size": rng.choice(SIZES),
        "quality": rng.choice(QUALITIES),
        "n": rng.randint(1, max_n),
    }


class Served(Protocol):
    """A running gateway (in this process or another) as a storm sees it."""

    url: str


# The status a storm gives an answer whose streamed body broke off (the gateway aborts the connection).
BROKE_OFF = -1


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: httpx.Headers
    sent: dict[str, Any]

    @property
    def code(self) -> str | None:
        error = self.body.get("error")
        return None if not isinstance(error, dict) else error.get("code")


async def storm(
    gateways: Sequence[Served], secret: str, bodies: list[dict[str, Any]], *, timeout: float = 30.0
) -> list[Answer]:
    """Send every body at once, spread over the gateways in turn; a client timeout is status 0, an
    answer whose body broke off mid-way ``BROKE_OFF``."""
    limits = httpx.Limits(max_connections=len(bodies) + 10)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:

        async def one(index: int, body: dict[str, Any]) -> Answer:
            gateway = gateways[index % len(gateways)]
            try:
                response = await client.post(
                    gateway.url + "/v1/images/generations",
                    json=body,
                    headers={"authorization": f"Bearer {secret}"},
                    timeout=body.pop("_client_timeout", timeout),
                )
            except httpx.TimeoutException:
                return Answer(0, {}, httpx.Headers(), body)
            except httpx.RemoteProtocolError:
                # A large answer streaming through that broke off after it started (docs/performance.md).
                return Answer(BROKE_OFF, {}, httpx.Headers(), body)
            return Answer(response.status_code, response.json(), response.headers, body)

        return list(await asyncio.gather(*(one(i, body) for i, body in enumerate(bodies))))


def ledger_rows(gateways: list[GatewayHandle], key_name: str) -> list[LedgerEntry]:
    """The key's ledger rows once every replica's writer caught up."""
    for gateway in gateways:
        assert gateway.runtime.ledger.wait_idle(15.0)
    return SqlLedgerStore(gateways[0].engine).query_entries(key_name=key_name, limit=10_000)


def stable_ledger_rows(
    engine: Engine, key_name: str, *, at_least: int = 0, quiet_s: float = 0.3, within_s: float = 15.0
) -> list[LedgerEntry]:
    """The key's ledger rows once writers in other processes caught up: at least ``at_least`` rows
    (one per provider call made) and no new row for ``quiet_s`` (several of a writer's 50 ms flush
    intervals). Past ``within_s`` the rows as they are, for the caller's assertions to judge."""
    store = SqlLedgerStore(engine)
    deadline = time.monotonic() + within_s
    rows = store.query_entries(key_name=key_name, limit=10_000)
    changed = time.monotonic()
    while time.monotonic() < deadline:
        if len(rows) >= at_least and time.monotonic() - changed >= quiet_s:
            break
        time.sleep(0.02)
        latest = store.query_entries(key_name=key_name, limit=10_000)
        if len(latest) != len(rows):
            rows, changed = latest, time.monotonic()
    return rows


def bucket(kind: str, period: str = "month") -> str:
    return period_bucket(kind, period, datetime.now(UTC), ZoneInfo("UTC"))[0]  # type: ignore[arg-type]


async def settled_state(
    store: AdmissionStore, holder: str, buckets: list[str], *, within_s: float = 15.0
) -> dict[str, tuple[int, int]]:
    """Each bucket's ``(spent, held)`` once nothing is held any more (requests cut short settle a moment later)."""
    deadline = time.monotonic() + within_s
    while True:
        state = {name: await store.usage(holder, name, datetime.now(UTC)) for name in buckets}
        if all(held == 0 for _, held in state.values()) or time.monotonic() > deadline:
            return state
        await asyncio.sleep(0.05)


async def wait_in_flight(sandbox_url: str, since: float, count: int, fault: str) -> None:
    """Until ``count`` calls with ``fault`` made after ``since`` (unix seconds) are in flight at the sandbox."""
    deadline = time.monotonic() + 10
    async with httpx.AsyncClient() as client:
        while True:
            records = (await client.get(sandbox_url + "/_sandbox/requests")).json()["requests"]
            waiting = [r for r in records if r["time"] >= since and r["status"] is None and fault in str(r["faults"])]
            if len(waiting) >= count:
                return
            assert time.monotonic() < deadline, f"{count} '{fault}' calls never reached the sandbox"
            await asyncio.sleep(0.02)


def assert_one_row_per_call(rows: list[LedgerEntry], provider_calls: int) -> None:
    """Every provider call has exactly one ledger row; rows beyond the calls are attempts that never
    reached the sandbox (a refused connection under load, a hang-up while connecting), recorded as
    errors without an HTTP answer."""
    unanswered = sum(1 for row in rows if row.status == "error" and row.http_status is None)
    assert provider_calls <= len(rows) <= provider_calls + unanswered, (len(rows), provider_calls, unanswered)


def settled_sql(store: Any, holder: str, bucket_name: str, *, within_s: float = 10.0) -> tuple[int, int]:
    """``(spent, held)`` of a database-backed bucket once nothing is held (settlements run in the background)."""
    deadline = time.monotonic() + within_s
    while True:
        state: tuple[int, int] = store.usage_now(holder, bucket_name, datetime.now(UTC))
        if state[1] == 0 or time.monotonic() > deadline:
            return state
        time.sleep(0.02)
