"""Smoke checks: the cheapest request per route, verdicts, ledger rows; against the sandbox."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date

import pytest

from imagegate.accounting.ports import LedgerEntry
from imagegate.catalog import load_catalog
from imagegate.domain import errors as e
from imagegate.pricing.engine import quote
from imagegate.providers.base import RouteTarget
from imagegate.providers.http import HttpExecutor
from imagegate.providers.registry import builtin_registry
from imagegate.route_config import facts_from_catalog
from imagegate.routing.control_store import RouteCheck
from imagegate.routing.table import ModelAlias, RouteTable
from imagegate.service.route_control import UnknownAlias, UnknownRoute
from imagegate.service.smoke import SmokeTester, status_for
from imagegate.service.smoke_request import smoke_request

TODAY = date(2026, 11, 21)
CATALOG = load_catalog()
REGISTRY = builtin_registry()


def _request_for(provider: str, model: str):
    entry = CATALOG.find(provider, model)
    target = RouteTarget(
        name=f"a/{provider}/{model}", alias="a", provider=provider, model=model, base_url="http://x", api_key="k"
    )
    return smoke_request(target, REGISTRY.get(provider), entry.capabilities, entry.price)


def test_the_smoke_request_is_one_image_at_the_cheapest_allowed_shape_and_quality():
    gpt = _request_for("openai", "gpt-image-1.5")
    assert (gpt.n, gpt.size, gpt.quality) == (1, "1024x1024", "low")
    assert (_request_for("openai", "dall-e-2").size, _request_for("openai", "dall-e-3").quality) == (
        "256x256",
        "standard",
    )
    flash = _request_for("gemini", "gemini-3.1-flash-image")
    assert (flash.aspect_ratio, flash.resolution) == ("1:1", "512")  # the 512 tier costs least
    pro = _request_for("gemini", "gemini-3-pro-image")
    assert (pro.aspect_ratio, pro.resolution) == ("1:1", "1K")


def test_free_form_sizes_compete_on_quoted_price():
    # gpt-image-2 takes fixed sizes and any WxH from 655,360 pixels: the smallest square joins the
    # candidates, and whichever quotes lowest wins (the area formula need not favour the square).
    chosen = _request_for("openai", "gpt-image-2")
    price = CATALOG.find("openai", "gpt-image-2").price

    def cost(size: str) -> int:
        return quote(dataclasses.replace(chosen, size=size), price).micros

    assert chosen.quality == "low"
    assert cost(chosen.size) == min(cost(size) for size in ("1024x1024", "1536x1024", "1024x1536", "816x816"))


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (e.ProviderPermission, "unsupported"),
        (e.ProviderNotFound, "unsupported"),
        (e.RateLimited, "degraded"),
        (e.UpstreamTimeout, "degraded"),
        (e.UpstreamUnavailable, "unknown_failure"),
        (e.ProviderAuthentication, "unknown_failure"),
        (e.QuotaExhausted, "unknown_failure"),
        (e.UpstreamBadResponse, "unknown_failure"),
    ],
)
def test_failure_to_status_mapping(error, status):
    assert status_for(error("x")) == status


@dataclass
class Recorded:
    entries: list[LedgerEntry] = field(default_factory=list)
    checks: list[RouteCheck] = field(default_factory=list)


def _target(sandbox_url: str, alias: str, model: str, timeout: float = 30.0) -> RouteTarget:
    return RouteTarget(
        name=f"{alias}/openai/{model}",
        alias=alias,
        provider="openai",
        model=model,
        base_url=f"{sandbox_url}/v1",
        api_key="sk-smoke",
        timeout_s=timeout,
    )


@pytest.fixture
async def smoke_setup(sandbox_url) -> AsyncIterator[tuple[SmokeTester, Recorded, RouteTable]]:
    table = RouteTable(
        [
            ModelAlias("fine", (_target(sandbox_url, "fine", "gpt-image-2"),)),
            ModelAlias(
                "shaky",
                (
                    _target(sandbox_url, "shaky", "gpt-image-2.5-flare"),
                    _target(sandbox_url, "shaky", "gpt-image-2.6-preview"),
                ),
            ),
            ModelAlias("slow", (_target(sandbox_url, "slow", "gpt-image-2.5-sunburst", timeout=0.3),)),
            ModelAlias("old", (_target(sandbox_url, "old", "gpt-image-1"),)),
        ]
    )
    recorded, http = Recorded(), HttpExecutor()
    tester = SmokeTester(
        routes=table,
        registry=REGISTRY,
        facts=facts_from_catalog(CATALOG),
        http=http,
        record_entry=recorded.entries.append,
        record_check=recorded.checks.append,
        today=lambda: TODAY,
    )
    yield tester, recorded, table
    await http.aclose()


async def test_a_healthy_route_is_available_with_latency_usage_cost_and_a_ledger_row(smoke_setup, sandbox_control):
    tester, recorded, _table = smoke_setup
    sandbox_control.delete("/_sandbox/requests")
    [result] = await tester.run(tester.select(models=["fine"]))

    check = result.check
    assert result.passed and check.status == "available" and result.http_status == 200
    assert check.provider_request_id.startswith("req_") and check.latency_ms is not None
    assert check.usage["output_tokens"] > 0 and check.cost_micros > 0
    assert result.quality == "low" and result.size is not None
    [entry] = recorded.entries
    assert (entry.key_name, entry.dialect, entry.status, entry.route) == (
        "smoke",
        "smoke",
        "ok",
        "fine/openai/gpt-image-2",
    )
    assert entry.cost_micros == check.cost_micros and entry.images == 1 and not entry.cost_estimated
    assert recorded.checks == [check]
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 1


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ("500", "unknown_failure", "upstream_unavailable"),
        ("401", "unknown_failure", "upstream_authentication"),
        ("429=30", "degraded", "rate_limited"),
    ],
)
async def test_a_failing_route_is_recorded_with_its_status(smoke_setup, sandbox_control, fault, status, code):
    tester, recorded, _ = smoke_setup
    queued = sandbox_control.post("/_sandbox/faults", json={"fault": fault, "model": "gpt-image-2.5-flare"})
    assert queued.status_code == 201
    [result] = await tester.run(tester.select(routes=["shaky/openai/gpt-image-2.5-flare"]))

    assert not result.passed and (result.check.status, result.check.error_code) == (status, code)
    assert result.check.provider_request_id is not None and result.http_status == int(fault[:3])
    [entry] = recorded.entries
    assert (entry.status, entry.error_code, entry.key_name, entry.cost_micros) == ("error", code, "smoke", 0)


async def test_unknown_models_are_unsupported_slow_ones_degraded_retired_ones_not_called(smoke_setup, sandbox_control):
    tester, recorded, _ = smoke_setup
    sandbox_control.delete("/_sandbox/requests")
    sandbox_control.post("/_sandbox/faults", json={"fault": "hang", "model": "gpt-image-2.5-sunburst"})
    results = {
        r.target.name: r
        for r in await tester.run(tester.select(models=["old", "slow"], routes=["shaky/openai/gpt-image-2.6-preview"]))
    }

    assert results["shaky/openai/gpt-image-2.6-preview"].check.status == "unsupported"  # the provider's 404
    slow = results["slow/openai/gpt-image-2.5-sunburst"].check
    assert (slow.status, slow.error_code) == ("degraded", "timeout")  # the route's own 0.3 s timeout
    retired = results["old/openai/gpt-image-1"]
    assert retired.passed and retired.check.status == "retired" and "2026-10-23" in retired.check.detail
    assert {entry.route for entry in recorded.entries} == set(results) - {"old/openai/gpt-image-1"}
    assert len(recorded.checks) == 3
    assert sandbox_control.get("/_sandbox/requests", params={"model": "gpt-image-1"}).json()["count"] == 0


async def test_selection_names_unknown_aliases_and_routes(smoke_setup):
    tester, _, table = smoke_setup
    assert len(tester.select()) == sum(len(alias.routes) for alias in table.aliases())
    assert [t.name for t in tester.select(models=["fine"], routes=["old/openai/gpt-image-1"])] == [
        "fine/openai/gpt-image-2",
        "old/openai/gpt-image-1",
    ]
    with pytest.raises(UnknownAlias):
        tester.select(models=["nope"])
    with pytest.raises(UnknownRoute):
        tester.select(routes=["fine/openai/nope"])


async def test_a_flux_route_is_smoked_through_its_task_at_the_smallest_size(sandbox_url):
    bfl = RouteTarget(
        name="flux/bfl/flux-2-klein-4b",
        alias="flux",
        provider="bfl",
        model="flux-2-klein-4b",
        base_url=sandbox_url,
        api_key="bfl-smoke",
        options={"poll_interval": 0.02, "result_hosts": ["localhost"]},
    )
    recorded, http = Recorded(), HttpExecutor()
    tester = SmokeTester(
        routes=RouteTable([ModelAlias("flux", (bfl,))]),
        registry=REGISTRY,
        facts=facts_from_catalog(CATALOG),
        http=http,
        record_entry=recorded.entries.append,
        record_check=recorded.checks.append,
        today=lambda: TODAY,
    )
    try:
        [result] = await tester.run(tester.select(models=["flux"]))
    finally:
        await http.aclose()
    assert result.passed and result.check.status == "available" and result.size == "64x64"
    # klein-4b's first megapixel, BFL's credits: 1.4 x $0.01.
    [entry] = recorded.entries
    assert (entry.cost_micros, entry.usage["cost"]) == (14_000, 1.4)
