"""``RoutingAdmin``: validated changes, rollback as an undo stack, status, refresh; over SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from imagegate.accounting.ports import LedgerEntry
from imagegate.catalog.model import Lifecycle
from imagegate.domain.errors import InvalidRequest
from imagegate.providers.base import RouteTarget
from imagegate.routing.control_store import RouteCheck
from imagegate.routing.controls import ControlsHolder
from imagegate.routing.health import RouteHealth, RouteStats
from imagegate.routing.table import ModelAlias, RouteTable
from imagegate.service.plan import ModelFacts
from imagegate.service.route_control import (
    NothingToRollBack,
    RoutingAdmin,
    UnknownAlias,
    UnknownRoute,
    effective_status,
    health_from_ledger,
    refresh_once,
)
from imagegate.store import make_engine, upgrade_database
from imagegate.store.routing_state import SqlRoutingState

A, B = "img/openai/gpt-image-2", "img/openai/gpt-image-1.5"
OLD = "old/openai/gpt-image-1"
AT = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def _target(name: str, weight: float = 1.0) -> RouteTarget:
    alias, provider, model = name.split("/", 2)
    return RouteTarget(
        name=name, alias=alias, provider=provider, model=model, base_url="http://x", api_key="k", weight=weight
    )


TABLE = RouteTable(
    [
        ModelAlias("img", (_target(A), _target(B, weight=3.0))),
        ModelAlias("old", (_target(OLD),)),
    ]
)


def _facts(provider: str, model: str) -> ModelFacts:
    lifecycle = Lifecycle(shutdown_on=date(2026, 10, 23)) if model == "gpt-image-1" else None
    return ModelFacts(capabilities=None, price=None, lifecycle=lifecycle)


@pytest.fixture
def store() -> Iterator[SqlRoutingState]:
    engine = make_engine("sqlite://")
    upgrade_database(engine)
    yield SqlRoutingState(engine)
    engine.dispose()


@pytest.fixture
def admin(store) -> RoutingAdmin:
    return RoutingAdmin(store, TABLE, facts=_facts, today=lambda: date(2026, 11, 21), clock=lambda: AT)


def test_changes_are_validated_against_the_route_table(admin):
    with pytest.raises(UnknownRoute):
        admin.disable("img/openai/nope", "t")
    with pytest.raises(UnknownAlias):
        admin.set_policy("nope", "cheapest", "t")
    for bad in (-1, float("nan"), float("inf"), True):
        with pytest.raises(InvalidRequest) as caught:
            admin.reweight(A, bad, "t")
        assert caught.value.param == "weight"
    with pytest.raises(InvalidRequest) as caught:
        admin.set_policy("img", "random", "t")
    assert caught.value.param == "policy"
    assert admin.changes() == []


def test_snapshot_reflects_every_change_with_the_newest_id_as_version(admin):
    admin.disable(A, "cli:ann")
    admin.reweight(B, 0.5, "api")
    last = admin.set_policy("img", "weighted", "api")
    snapshot = admin.load_snapshot()
    assert snapshot.version == last.id == admin.version()
    assert (
        not snapshot.enabled(A) and snapshot.weight(B, 3.0) == 0.5 and snapshot.policy("img", "priority") == "weighted"
    )
    assert [(c.action, c.actor) for c in admin.changes()] == [
        ("policy", "api"),
        ("reweight", "api"),
        ("disable", "cli:ann"),
    ]


def test_rollback_walks_back_through_the_alias_history_and_logs_itself(admin):
    disable = admin.disable(A, "t")
    reweight = admin.reweight(A, 2.0, "t")
    policy = admin.set_policy("img", "cheapest", "t")
    admin.disable(OLD, "t")  # another alias's change is never undone by img's rollback

    first = admin.rollback("img", "t")
    assert (first.action, first.reverts, first.route) == ("rollback", policy.id, None)
    assert admin.load_snapshot().policies == {}
    second = admin.rollback("img", "t")
    assert second.reverts == reweight.id and second.after == {"enabled": False, "weight": None}
    third = admin.rollback("img", "t")
    assert third.reverts == disable.id
    snapshot = admin.load_snapshot()
    assert snapshot.enabled(A) and list(snapshot.routes) == [OLD]
    with pytest.raises(NothingToRollBack):
        admin.rollback("img", "t")
    assert [c.action for c in admin.changes(alias="img")] == ["rollback"] * 3 + ["policy", "reweight", "disable"]


def test_rollback_after_a_new_change_undoes_the_new_change_first(admin):
    admin.disable(A, "t")
    admin.rollback("img", "t")
    reweight = admin.reweight(B, 9.0, "t")
    assert admin.rollback("img", "t").reverts == reweight.id
    assert admin.load_snapshot().routes == {}
    with pytest.raises(NothingToRollBack):
        admin.rollback("img", "t")


def test_effective_status_precedence():
    checked = RouteCheck(A, "unsupported", AT)
    busy = RouteStats(calls=9, error_rate=0.0, p50_ms=1.0, p95_ms=2.0, status="available", last_checked_at=None)
    assert effective_status(None, None, retired=False).status == "unknown"
    assert effective_status(checked, busy, retired=True) == effective_status(checked, None, retired=True)
    assert effective_status(checked, busy, retired=True).status == "retired"
    assert effective_status(checked, busy, retired=False).status == "unsupported"  # a hard verdict stands
    soft = RouteCheck(A, "degraded", AT)
    assert effective_status(soft, busy, retired=False).status == "available"  # live traffic overturns it
    assert effective_status(soft, busy, retired=False).last_checked_at == AT


def test_overview_merges_config_overrides_checks_and_health(admin, store):
    admin.reweight(B, 0.5, "t")
    admin.set_policy("img", "weighted", "t")
    store.record_check(RouteCheck(A, "available", AT, latency_ms=900))
    health = RouteHealth(min_calls=2)
    for latency in (100, 200, 300):
        health.observe(A, success=True, latency_ms=latency)
    health.observe(A, success=False, latency_ms=5)
    img, old = admin.overview(health)
    assert (img["configured_policy"], img["policy_override"], img["policy"]) == ("priority", "weighted", "weighted")
    first, second = img["routes"]
    assert (first["status"], first["last_checked_at"], first["p50_ms"], first["error_rate"]) == (
        "available",
        AT.isoformat(),
        200,
        0.25,
    )
    assert first["last_check"]["latency_ms"] == 900
    assert (second["configured"]["weight"], second["override"]["weight"], second["weight"]) == (3.0, 0.5, 0.5)
    assert second["status"] == "unknown" and second["calls"] == 0
    assert old["routes"][0]["status"] == "retired"
    assert admin.statuses()[OLD].status == "retired"


def test_health_from_ledger_counts_only_route_faults():
    def row(status: str, code: str | None, latency: int, minute: int, **extra) -> LedgerEntry:
        return LedgerEntry(
            request_id=f"r{minute}",
            attempt=1,
            model="img",
            provider="openai",
            provider_model="m",
            route=A,
            operation="generate",
            dialect="openai",
            status=status,
            error_code=code,
            created_at=AT + timedelta(minutes=minute),
            latency_ms=latency,
            **extra,
        )

    rows = [
        row("ok", None, 100, 1),
        row("error", "upstream_unavailable", 5, 2),
        row("error", "moderation_blocked", 50, 3),
        row("error", "cancelled", 1, 4, client_disconnected=True),
        row("error", "brand_new_code", 7, 5),
    ]
    stats = health_from_ledger(rows).stats(A)
    assert stats.calls == 4 and stats.error_rate == 0.5  # 500 and the unknown code count; moderation doesn't
    assert (stats.p50_ms, stats.p95_ms) == (50, 100)  # the moderated call still answered, in 50 ms


async def test_refresh_swaps_the_snapshot_only_when_the_version_moves(admin):
    holder = ControlsHolder()
    assert await refresh_once(admin, holder) is False  # nothing stored: version 0 already
    change = admin.disable(A, "t")
    assert await refresh_once(admin, holder) is True
    held = holder.current
    assert held.version == change.id and not held.enabled(A)
    assert await refresh_once(admin, holder) is False and holder.current is held
