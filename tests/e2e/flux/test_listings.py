"""FLUX rows in ``/api/pricing`` and ``/api/report``: the hosts' rules as served, spend as recorded."""

from __future__ import annotations

from decimal import Decimal

import httpx

from tests.support.flux import FLUX_MASTER_KEY


def test_pricing_lists_each_flux_route_with_its_rule(flux_gateway):
    rows = httpx.get(flux_gateway.url + "/api/pricing").json()["models"]
    served = {(row["model"], row["provider"]): row for row in rows if row["served"]}
    bfl = served[("flux-2-pro", "bfl")]
    assert (bfl["unit"], bfl["priced"]) == ("megapixel", True)
    assert served[("fal-flux-2-pro", "fal")]["unit"] == "megapixel"
    assert served[("replicate-flux-2-pro", "replicate")]["unit"] == "megapixel"
    assert served[("together-schnell", "together")]["unit"] == "image"
    # The catalog's other FLUX rows are listed too, unserved.
    assert any(row["provider_model"] == "flux-2-max" and not row["served"] for row in rows)


def test_report_by_route_sums_the_flux_ledger(client, flux_gateway):
    client.images.generate(model="flux-2-klein-4b", prompt="a pear")
    ledger = flux_gateway.ledger()
    response = httpx.get(
        flux_gateway.url + "/api/report?by=route&since=1h", headers={"authorization": f"Bearer {FLUX_MASTER_KEY}"}
    )
    assert response.status_code == 200
    groups = {row["route"]: row for row in response.json()["rows"]}
    for route in {row.route for row in ledger}:
        spent = sum(row.cost_micros for row in ledger if row.route == route)
        assert Decimal(groups[route]["spend_usd"]) * 1_000_000 == spent


def test_estimates_price_each_host_by_its_own_rule(client, flux_gateway):
    key = flux_gateway.create_key("flux-estimates")
    body = {"models": ["flux-2-pro", "fal-flux-2-pro", "replicate-flux-2-pro"], "size": "1920x1088"}
    response = httpx.post(flux_gateway.url + "/api/estimate", json=body, headers={"authorization": f"Bearer {key}"})
    assert response.status_code == 200
    bfl, fal, replicate = (row["per_request_usd"] for row in response.json()["models"])
    # BFL: fractional MP (1.9922 MP); fal: rounded up to 2 MP; Replicate: run fee + 2.089 MP of 10^6 px.
    assert bfl == "0.044883"
    assert fal == "0.045000"
    assert replicate == "0.046334"
