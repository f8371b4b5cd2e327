"""Usage alerts: one ``usage.threshold_crossed`` event per threshold per period, on whichever
replica notices first, for team budgets and key image quotas; and end to end through a gateway."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from openai import OpenAI

from imagegate.accounting.usage_alerts import reached
from imagegate.domain.limits import Limits
from imagegate.service.usage_alerts import EVENT_TYPE, UsageAlerts
from imagegate.store.keys import SqlKeyStore
from imagegate.store.ledger import SqlLedgerStore
from imagegate.store.sql_admission import ledger_seeder
from imagegate.store.teams import SqlTeamStore
from imagegate.store.usage_alerts import SqlAlertMarks
from tests.governance.rows import ledger_row
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import running_gateway, sandbox_models_config


@dataclass
class RecordingSink:
    """The EventSink port, recording what it is asked to deliver."""

    events: list[tuple[str, dict[str, Any], int | None, int | None]] = field(default_factory=list)

    async def emit(self, event_type, data, *, team_id, key_id, endpoint_id=None) -> None:
        self.events.append((event_type, data, team_id, key_id))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def spend(store: SqlLedgerStore, at: datetime, *, team: str | None, key: str, micros: int, images: int = 1) -> None:
    request_id = f"req_{at.timestamp()}_{micros}_{images}"
    store.append_entries([ledger_row(request_id, at, key_name=key, team=team, images=images, cost_micros=micros)])


def watcher(engine, sink, clock) -> UsageAlerts:
    return UsageAlerts(
        keys=SqlKeyStore(engine),
        teams=SqlTeamStore(engine),
        marks=SqlAlertMarks(engine),
        ledger_sum=ledger_seeder(engine),
        sink=sink,
        clock=clock,
    )


def test_reached_thresholds():
    assert reached([50, 80, 100], 1_000_000, 0) == []
    assert reached([80, 50, 100], 1_000_000, 500_000) == [50]
    assert reached([50, 80, 100], 1_000_000, 1_200_000) == [50, 80, 100]
    assert reached([50], 0, 1) == [50]  # a zero budget is crossed by any spend


def test_each_threshold_fires_once_per_period_across_replicas(fresh_engine):
    clock = Clock(datetime(2026, 11, 20, 12, tzinfo=UTC))
    team = SqlTeamStore(fresh_engine).create_team(
        name="design", limits=Limits(budget_micros=1_000_000), alert_thresholds=[50, 80, 100]
    )
    ledger = SqlLedgerStore(fresh_engine)
    sink_a, sink_b = RecordingSink(), RecordingSink()
    replica_a, replica_b = watcher(fresh_engine, sink_a, clock), watcher(fresh_engine, sink_b, clock)

    spend(ledger, clock.now, team="design", key="web", micros=600_000)
    both = [replica.check([("team", "design")]) for replica in (replica_a, replica_b)]
    asyncio.run(_gather(both))
    events = sink_a.events + sink_b.events
    assert [(kind, data["threshold_percent"]) for kind, data, _, _ in events] == [(EVENT_TYPE, 50)]
    _, data, team_id, key_id = events[0]
    assert (team_id, key_id) == (team.id, None)
    assert data == {
        "holder": "team",
        "team": "design",
        "metric": "budget",
        "threshold_percent": 50,
        "period": "usd:m2026-11",
        "period_start": "2026-11-01T00:00:00+00:00",
        "limit": "1.000000",
        "used": "0.600000",
    }
    # Checking again announces nothing new; crossing 80 and 100 at once announces both, once.
    assert asyncio.run(replica_b.check([("team", "design")])) == []
    spend(ledger, clock.now, team="design", key="web", micros=500_000)
    crossed = asyncio.run(replica_b.check([("team", "design")])) + asyncio.run(replica_a.check([("team", "design")]))
    assert sorted(crossing.threshold for crossing in crossed) == [80, 100]
    # Next month starts over.
    clock.now = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    spend(ledger, clock.now, team="design", key="web", micros=500_000)
    assert [c.threshold for c in asyncio.run(replica_a.check([("team", "design")]))] == [50]
    assert len(sink_a.events) + len(sink_b.events) == 4


def test_key_image_quota_alerts_follow_observed_attempts(fresh_engine):
    clock = Clock(datetime(2026, 11, 20, 12, tzinfo=UTC))
    keys = SqlKeyStore(fresh_engine)
    key = keys.create_key(
        name="batch", prefix="ig-x", key_hash="a" * 64, models=None, limits=Limits(image_quota=10, quota_period="day")
    )
    keys.update_key("batch", alert_thresholds=[90])
    sink = RecordingSink()
    alerts = watcher(fresh_engine, sink, clock)
    ledger = SqlLedgerStore(fresh_engine)
    spend(ledger, clock.now, team=None, key="batch", micros=0, images=9)
    entry = ledger.query_entries(key_name="batch")[0]
    alerts.observe(entry)
    assert asyncio.run(alerts.check_recent())[0].data()["used"] == 9
    assert sink.events[0][2:] == (None, key.id) and sink.events[0][1]["metric"] == "image_quota"
    # Still checked on the next tick (the ledger may not have had the row yet), then forgotten.
    assert asyncio.run(alerts.check_recent()) == []
    alerts.observe(dataclasses.replace(entry, cost_micros=0, images=0))  # nothing spent: not watched
    assert asyncio.run(alerts.check_recent()) == []


def test_alerts_from_real_traffic_reach_the_sink(sandbox_url, tmp_path):
    engine = migrated_sqlite_engine(tmp_path / "alerts.db")
    team = SqlTeamStore(engine).create_team(
        name="growth", limits=Limits(budget_micros=1_000_000, image_quota=4), alert_thresholds=[50]
    )
    sink = RecordingSink()
    document = sandbox_models_config(sandbox_url, ["gpt-image-2"])
    with running_gateway(engine, document, events=sink, usage_alerts_interval_s=0.05) as handle:
        from imagegate.service.keys import KeySettings

        secret = handle.runtime.key_admin.create("growth-web", KeySettings(team="growth")).secret
        client = OpenAI(base_url=handle.url + "/v1", api_key=secret, max_retries=0)
        client.images.generate(model="gpt-image-2", prompt="a fox", size="1024x1024", quality="low", n=2)
        deadline = time.monotonic() + 10
        while len(sink.events) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
    engine.dispose()
    assert [(data["metric"], data["used"], team_id) for _, data, team_id, _ in sink.events] == [
        ("image_quota", 2, team.id)
    ]


async def _gather(coroutines):
    return await asyncio.gather(*coroutines)


def test_two_replicas_announce_each_crossing_once(sandbox_url, tmp_path):
    engine = migrated_sqlite_engine(tmp_path / "replicas.db")
    SqlTeamStore(engine).create_team(name="shared", limits=Limits(image_quota=10), alert_thresholds=[20, 40, 60])
    sinks = RecordingSink(), RecordingSink()
    document = sandbox_models_config(sandbox_url, ["gpt-image-2"])
    with (
        running_gateway(engine, document, events=sinks[0], usage_alerts_interval_s=0.05) as first,
        running_gateway(engine, document, events=sinks[1], usage_alerts_interval_s=0.05) as second,
    ):
        from imagegate.service.keys import KeySettings

        secret = first.runtime.key_admin.create("shared-web", KeySettings(team="shared")).secret
        for handle in (first, second, first, second, first, second):  # each replica sees the team spend
            client = OpenAI(base_url=handle.url + "/v1", api_key=secret, max_retries=0)
            client.images.generate(model="gpt-image-2", prompt="a fox", size="1024x1024", quality="low")
        deadline = time.monotonic() + 10
        while len(sinks[0].events) + len(sinks[1].events) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # a few more checks on both replicas: nothing may be announced twice
    engine.dispose()
    announced = sorted(data["threshold_percent"] for sink in sinks for _, data, _, _ in sink.events)
    assert announced == [20, 40, 60]
