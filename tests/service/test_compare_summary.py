"""The summary's arithmetic: outcomes per model, ledger money, nearest-rank percentiles."""

from __future__ import annotations

from imagegate.service.compare_runs import CompareCell, RequestUsage
from imagegate.service.compare_summary import micros_of, percentile, summarise, usd


def record(
    cell: str, model: str, status: str = "ok", images: int = 1, latency: int = 100, rid: str | None = None
) -> CompareCell:
    return CompareCell(
        cell_id=cell,
        model=model,
        prompt_index=0,
        repetition=1,
        status=status,  # type: ignore[arg-type]
        images_requested=1,
        request_id=rid if rid is not None else f"req_{cell}",
        latency_ms=latency,
        images=images if status == "ok" else 0,
    )


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([7], 95) == 7
    samples = list(range(1, 101))
    assert percentile(samples, 50) == 50
    assert percentile(samples, 95) == 95
    assert percentile([300, 100, 200, 400], 50) == 200
    assert percentile([300, 100, 200, 400], 95) == 400


def test_usd_keeps_six_decimals_without_floats() -> None:
    assert usd(1) == "0.000001"
    assert usd(1_234_567) == "1.234567"
    assert usd(None) is None
    assert micros_of("1.234567") == 1_234_567
    assert micros_of(usd(987_654_321) or "") == 987_654_321


def test_summary_counts_outcomes_and_takes_money_from_the_ledger() -> None:
    records = [
        record("a1", "A", latency=100),
        record("a2", "A", latency=300),
        record("a3", "A", status="blocked"),
        record("b1", "B", latency=50),
        record("b2", "B", status="refused"),
        record("b3", "B", status="failed"),
    ]
    usage = {
        "req_a1": RequestUsage("req_a1", 40_000, 0, 1, 0, 1, {0: True}),
        "req_a2": RequestUsage("req_a2", 60_000, 0, 2, 1, 1, {0: False}),
        "req_a3": RequestUsage("req_a3", 5_000, 0, 1, 1, 0, {}),
        "req_b1": RequestUsage("req_b1", 30_000, 30_000, 1, 0, 1, {0: True}),
        "req_b3": RequestUsage("req_b3", 1_000, 1_000, 3, 3, 0, {}),
    }
    a, b = summarise(["A", "B"], records, usage)
    assert (a.requested, a.returned, a.failed, a.blocked, a.refused, a.retried) == (3, 2, 0, 1, 0, 1)
    assert (a.accepted, a.rejected, a.spend_micros) == (1, 1, 105_000)
    assert a.group.cost_per_accepted_micros == 105_000
    assert str(a.group.acceptance_rate) == "0.5000"
    assert (a.p50_ms, a.p95_ms, a.latency_indicative) == (100, 300, True)
    row = b.as_dict(accepted_per_month=1000)
    assert row["spend_usd"] == "0.031000"
    assert row["estimated_usd"] == "0.031000"
    assert row["cost_per_accepted_image_usd"] == "0.031000"
    assert row["monthly_cost_usd"] == "31.000000"
    assert (row["failed"], row["refused"], row["retried"]) == (1, 1, 1)


def test_a_model_without_cells_still_shows_and_has_no_rates() -> None:
    (only,) = summarise(["C"], [], {})
    row = only.as_dict()
    assert (row["requested"], row["spend_usd"], row["cost_per_accepted_image_usd"], row["p50_ms"]) == (
        0,
        "0.000000",
        None,
        None,
    )
