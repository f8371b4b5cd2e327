"""``SqlRoutingState`` on both backends: overrides, the change log, the version, route checks."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from imagegate.routing.control_store import RouteCheck
from imagegate.routing.controls import RouteControl
from imagegate.store import upgrade_database
from imagegate.store.routing_state import SqlRoutingState

AT = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
ROUTE = "img/openai/gpt-image-2"


@pytest.fixture
def state(conn: Connection) -> SqlRoutingState:
    return SqlRoutingState(conn)


def test_route_changes_log_before_and_after_and_move_the_version(state):
    assert state.version() == 0 and state.snapshot().routes == {}
    first = state.change_route(
        alias="img", route=ROUTE, values={"enabled": False}, action="disable", actor="cli:ann", at=AT
    )
    second = state.change_route(alias="img", route=ROUTE, values={"weight": 2.5}, action="reweight", actor="api", at=AT)

    assert (first.before, first.after) == ({"enabled": None, "weight": None}, {"enabled": False, "weight": None})
    assert (second.before, second.after) == ({"enabled": False, "weight": None}, {"enabled": False, "weight": 2.5})
    assert second.id > first.id and state.version() == second.id
    snapshot = state.snapshot()
    assert snapshot.version == second.id
    assert snapshot.routes == {ROUTE: RouteControl(enabled=False, weight=2.5)}
    assert [c.id for c in state.changes()] == [second.id, first.id]
    assert state.changes()[1].actor == "cli:ann" and state.changes()[1].at == AT


def test_clearing_every_field_removes_the_override(state):
    state.change_route(alias="img", route=ROUTE, values={"enabled": False}, action="disable", actor="a", at=AT)
    cleared = state.change_route(
        alias="img",
        route=ROUTE,
        values={"enabled": None, "weight": None},
        action="rollback",
        actor="a",
        at=AT,
        reverts=1,
    )
    assert cleared.after == {"enabled": None, "weight": None} and cleared.reverts == 1
    assert state.snapshot().routes == {}


def test_policy_overrides_and_log_filtered_by_alias(state):
    state.change_policy(alias="img", policy="cheapest", action="policy", actor="a", at=AT)
    state.change_route(
        alias="other", route="other/openai/x", values={"enabled": False}, action="disable", actor="a", at=AT
    )
    changed = state.change_policy(alias="img", policy="fastest", action="policy", actor="a", at=AT)
    assert (changed.before, changed.after, changed.route) == ({"policy": "cheapest"}, {"policy": "fastest"}, None)
    assert state.snapshot().policies == {"img": "fastest"}
    assert [c.after["policy"] for c in state.changes(alias="img")] == ["fastest", "cheapest"]
    assert len(state.changes(limit=None)) == 3 and len(state.changes(limit=1)) == 1
    state.change_policy(alias="img", policy=None, action="rollback", actor="a", at=AT)
    assert state.snapshot().policies == {}


def test_unknown_fields_and_negative_weights_are_refused(state):
    with pytest.raises(ValueError, match="unknown route override"):
        state.change_route(alias="img", route=ROUTE, values={"policy": "x"}, action="policy", actor="a", at=AT)
    with pytest.raises(IntegrityError):
        state.change_route(alias="img", route=ROUTE, values={"weight": -1.0}, action="reweight", actor="a", at=AT)
    assert state.version() == 0  # the failed change left no log entry behind


def test_route_checks_replace_the_previous_one(state):
    state.record_check(
        RouteCheck(ROUTE, "unknown_failure", AT, latency_ms=12, error_code="upstream_unavailable", detail="500")
    )
    later = AT + timedelta(minutes=5)
    state.record_check(
        RouteCheck(
            ROUTE,
            "available",
            later,
            latency_ms=840,
            provider_request_id="req_1",
            usage={"output_tokens": 196},
            cost_micros=1234,
        )
    )
    checks = state.checks()
    assert list(checks) == [ROUTE]
    check = checks[ROUTE]
    assert (check.status, check.checked_at, check.latency_ms, check.error_code) == ("available", later, 840, None)
    assert (check.usage, check.cost_micros, check.provider_request_id) == ({"output_tokens": 196}, 1234, "req_1")


def test_concurrent_changes_never_lose_an_update(empty_engine: Engine):
    # Two replicas' admins changing one route at once: each change must see the one before it,
    # so the log is one unbroken chain (a lost update would show two changes with the same "before").
    upgrade_database(empty_engine)
    state = SqlRoutingState(empty_engine)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def admin(weights: list[float]) -> None:
        try:
            barrier.wait(timeout=10)
            for weight in weights:
                state.change_route(
                    alias="img", route=ROUTE, values={"weight": weight}, action="reweight", actor="a", at=AT
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=admin, args=([float(i) for i in range(start, 40, 2)],)) for start in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    chain = sorted(state.changes(limit=None), key=lambda change: change.id)
    assert len(chain) == 40
    for previous, change in itertools.pairwise(chain):
        assert change.before == previous.after
    assert state.snapshot().routes[ROUTE].weight == chain[-1].after["weight"]
