"""Metric labels stay bounded, the team comes from the request's facts, and attempts recorded outside
``ImageService`` (smoke checks) are counted through ``Telemetry.recorded_by``."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import generate_latest

from imagegate.accounting.ports import LedgerEntry
from imagegate.providers.base import RouteTarget
from imagegate.providers.registry import builtin_registry
from imagegate.routing.table import ModelAlias, RouteTable
from imagegate.service.request_facts import note_attempt, note_error, note_request, note_team, request_scope
from imagegate.telemetry.labels import LabelSets
from imagegate.telemetry.wiring import build_telemetry

ROUTE = "gpt-image-2/openai/gpt-image-2"


def _table() -> RouteTable:
    target = RouteTarget(ROUTE, "gpt-image-2", "openai", "gpt-image-2", "http://127.0.0.1:9", "sk-x")
    return RouteTable([ModelAlias(name="gpt-image-2", routes=(target,))])


def _entry(**fields) -> LedgerEntry:
    base = {
        "request_id": "req_1",
        "attempt": 1,
        "model": "gpt-image-2",
        "provider": "openai",
        "provider_model": "gpt-image-2",
        "route": ROUTE,
        "operation": "generate",
        "dialect": "openai-images",
        "status": "ok",
        "created_at": datetime.now(UTC),
        "images": 1,
        "cost_micros": 11_000,
        "latency_ms": 1500,
    }
    return LedgerEntry(**{**base, **fields})


def test_label_sets_collapse_what_is_not_configured_or_known():
    labels = LabelSets(models=["gpt-image-2"], routes=[ROUTE], max_teams=2)
    assert [labels.model(name) for name in ("gpt-image-2", "dall-e-9", None, "")] == [
        "gpt-image-2",
        "other",
        "none",
        "none",
    ]
    assert labels.route("elsewhere") == "other" and labels.route(ROUTE) == ROUTE
    assert (
        labels.error_code("rate_limited") == "rate_limited"
        and labels.error_code("outcome_unknown") == "outcome_unknown"
    )
    assert labels.error_code("something-a-provider-said") == "other" and labels.error_code(None) == ""
    assert [labels.team(name) for name in ("red", "blue", "green", "red", None)] == [
        "red",
        "blue",
        "other",
        "red",
        "none",
    ]


def test_the_team_label_comes_from_the_request_and_added_latency_excludes_provider_time():
    telemetry = build_telemetry(_table(), metrics_mode="open", traces="off", registry=builtin_registry())
    metrics = telemetry.metrics
    assert metrics is not None
    with request_scope() as facts:
        note_team("design")
        note_request("req_1", "gpt-image-2")
        entry = _entry()
        note_attempt(entry, ended=100.0)
        metrics.observe_attempt(entry)
        note_error("upstream_unavailable")
    assert facts.provider_seconds() == 1.5
    metrics.observe_request(facts, 502, seconds=1.75)
    registry = metrics.registry
    labels = {"model": "gpt-image-2", "route": ROUTE, "team": "design"}
    assert registry.get_sample_value("imagegate_images_total", labels) == 1
    assert registry.get_sample_value("imagegate_cost_microusd_total", labels) == 11_000
    outcome = {"model": "gpt-image-2", "team": "design", "outcome": "upstream_unavailable"}
    assert registry.get_sample_value("imagegate_requests_total", outcome) == 1
    assert registry.get_sample_value("imagegate_added_latency_seconds_sum", {"model": "gpt-image-2"}) == 0.25
    assert b"req_1" not in generate_latest(registry)


def test_overlapping_attempts_count_once_in_provider_time():
    with request_scope() as facts:
        note_attempt(_entry(latency_ms=2000), ended=10.0)  # 8..10
        note_attempt(_entry(attempt=2, latency_ms=1000), ended=9.5)  # 8.5..9.5, inside the first
        note_attempt(_entry(attempt=3, latency_ms=1000), ended=12.0)  # 11..12
    assert facts.provider_seconds() == 3.0


def test_attempts_recorded_outside_the_service_are_counted():
    telemetry = build_telemetry(_table(), metrics_mode="open", traces="off", registry=builtin_registry())
    written: list[LedgerEntry] = []
    record = telemetry.recorded_by(written.append)
    record(_entry(request_id="smoke_1"))
    assert [entry.request_id for entry in written] == ["smoke_1"]
    assert telemetry.metrics is not None
    labels = {"model": "gpt-image-2", "route": ROUTE, "outcome": "ok", "error_code": ""}
    assert telemetry.metrics.registry.get_sample_value("imagegate_attempts_total", labels) == 1
    off = build_telemetry(_table(), metrics_mode="off", traces="off", registry=builtin_registry())
    assert off.recorded_by(written.append) == written.append and off.middleware(lambda scope: True) is None
