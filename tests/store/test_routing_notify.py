"""Routing changes pushed over PostgreSQL LISTEN/NOTIFY: a replica that polls only every five minutes
still routes with another replica's change at once, and a rolled-back change announces nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from imagegate.providers.base import RouteTarget
from imagegate.routing.controls import ControlsHolder
from imagegate.routing.table import ModelAlias, RouteTable
from imagegate.service.route_control import RoutingAdmin, refresh_controls
from imagegate.store.database import make_engine
from imagegate.store.routing_notify import PgChangeFeed
from imagegate.store.routing_state import SqlRoutingState
from tests.store.fixtures import require_postgres, throwaway_pg_database

ROUTE = "img/openai/gpt-image-2"
TABLE = RouteTable(
    [
        ModelAlias(
            "img",
            (
                RouteTarget(
                    name=ROUTE, alias="img", provider="openai", model="gpt-image-2", base_url="http://x", api_key="k"
                ),
            ),
        )
    ]
)
SLOW_POLL_S = 300.0  # far longer than any wait below: only a notification can explain a refresh


@pytest.fixture
def engine() -> Iterator[sa.Engine]:
    require_postgres()
    with throwaway_pg_database() as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


async def _until(condition, what: str, timeout_s: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.02)


async def test_a_change_on_one_replica_reaches_another_without_waiting_for_its_poll(engine):
    replica = RoutingAdmin(SqlRoutingState(engine), TABLE)
    other_replica = RoutingAdmin(SqlRoutingState(engine), TABLE)
    holder = ControlsHolder()
    feed = PgChangeFeed(engine.url)
    task = asyncio.create_task(
        refresh_controls(replica, holder, SLOW_POLL_S, feed=feed, fallback_interval_s=SLOW_POLL_S)
    )
    try:
        await _until(lambda: feed._conn is not None, "the listener never connected")
        change = await asyncio.to_thread(other_replica.disable, ROUTE, "ops")
        await _until(lambda: holder.current.version == change.id, "the disable never reached the other replica")
        assert holder.current.enabled(ROUTE, True) is False
        again = await asyncio.to_thread(other_replica.enable, ROUTE, "ops")
        await _until(lambda: holder.current.version == again.id, "the enable never reached the other replica")
        assert holder.current.enabled(ROUTE, False) is True
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert feed._conn is None  # the listening connection is closed with the refresher


async def test_only_a_committed_change_is_announced(engine):
    feed = PgChangeFeed(engine.url)
    await feed.wait(SLOW_POLL_S)  # connects and listens (returns at once)
    try:
        with engine.begin() as conn:  # a change's notification, rolled back with it
            conn.execute(sa.select(sa.func.pg_notify("imagegate_routing_controls", "")))
            conn.rollback()
        waited = asyncio.create_task(feed.wait(SLOW_POLL_S))
        await asyncio.sleep(0.5)
        assert not waited.done()
        await asyncio.to_thread(RoutingAdmin(SqlRoutingState(engine), TABLE).disable, ROUTE, "ops")
        await asyncio.wait_for(waited, timeout=15)
    finally:
        await feed.close()
