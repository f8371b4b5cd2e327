"""The fault mix (issue 8): every sandbox directive × dialect × stream or not, a few hundred requests at once.

For the whole mix: every provider call has exactly one ledger row, and the gateway never answers 500.
Per case (the test id names the directive and the lane): what the client saw, the ledger rows, the
provider calls behind them, and the cost rule the rows follow. Expectations: tests/reliability/expectations.py.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.reliability.conftest import MixEvidence
from tests.reliability.expectations import Billing, Expected, expected
from tests.reliability.fault_mix import CASES, REQUESTS_PER_CASE, Case

BY_CASE = pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])


def _provider_calls(mix: MixEvidence, case: Case) -> list[dict[str, Any]]:
    """The sandbox's records of this case's calls (each lane calls a model of its own)."""
    model, stream, labels = case.provider_signature
    return [
        call
        for call in mix.provider_calls
        if (call["model"], call["stream"], tuple(call["faults"])) == (model, stream, labels)
    ]


# -- the whole mix ---------------------------------------------------------------------------------


def test_the_mix_is_a_few_hundred_requests_over_every_directive_and_dialect(mix: MixEvidence) -> None:
    assert sum(len(outcomes) for outcomes in mix.outcomes.values()) == len(CASES) * REQUESTS_PER_CASE >= 300
    assert {case.lane.dialect for case in CASES} == {"openai", "gemini", "imagen"}
    assert mix.provider_call_count >= len(CASES) * REQUESTS_PER_CASE


def test_every_provider_call_has_exactly_one_ledger_row(mix: MixEvidence) -> None:
    assert mix.unattributed_rows == []
    rows = sum(len(rows) for rows in mix.rows.values())
    assert mix.provider_call_count == len(mix.provider_calls) == rows


def test_the_gateway_never_answers_500(mix: MixEvidence) -> None:
    internal = {
        case_id: outcome
        for case_id, outcomes in mix.outcomes.items()
        for outcome in outcomes
        if outcome["status"] >= 500 and outcome["status"] not in (502, 503, 504)
    }
    assert internal == {}


def test_no_row_has_a_negative_cost_and_every_ok_row_is_priced(mix: MixEvidence) -> None:
    rows = [row for rows in mix.rows.values() for row in rows]
    assert [row for row in rows if row["cost_micros"] < 0] == []
    assert [row for row in rows if row["status"] == "ok" and (row["cost_micros"] <= 0 or row["images"] < 1)] == []


# -- per case --------------------------------------------------------------------------------------


def _has_image(outcome: dict[str, Any]) -> bool:
    """Whether an answer carries an image, in any dialect (long strings were abridged to ``<N chars>``)."""
    text = str(outcome.get("json", outcome.get("events")))
    return any(key in text for key in ("'b64_json': '<", "'bytesBase64Encoded': '<", "'data': '<"))


def _assert_error_in_dialect(case: Case, outcome: dict[str, Any], want: Expected) -> None:
    error = outcome["json"]["error"]
    if case.lane.dialect == "openai":
        assert isinstance(error["message"], str) and isinstance(error["type"], str) and error["code"] is not None
    else:
        assert error["code"] == want.client_status and isinstance(error["status"], str)


def _assert_stream_ended_in_error(case: Case, outcome: dict[str, Any]) -> None:
    last = outcome["events"][-1]
    if case.lane.dialect == "openai":
        assert last["type"] == "error", last
    else:
        assert "error" in last, last


@BY_CASE
def test_the_client_gets_the_status_and_body_its_dialect_promises(mix: MixEvidence, case: Case) -> None:
    want = expected(case)
    outcomes = mix.outcomes[case.id]
    assert [outcome["status"] for outcome in outcomes] == [want.client_status] * REQUESTS_PER_CASE, outcomes[0]
    for outcome in outcomes:
        if want.mid_stream_error:
            _assert_stream_ended_in_error(case, outcome)
        elif want.client_status != 200:
            _assert_error_in_dialect(case, outcome, want)
        else:
            assert outcome["stream"] is case.lane.stream
            assert _has_image(outcome) is (want.error_code is None), outcome


@BY_CASE
def test_each_attempt_has_a_row_saying_what_happened(mix: MixEvidence, case: Case) -> None:
    want = expected(case)
    rows = mix.rows[case.id]
    assert len(rows) == want.attempts * REQUESTS_PER_CASE, [(row["status"], row["error_code"]) for row in rows]
    for row in rows:
        assert (row["status"], row["error_code"]) == ("ok" if want.error_code is None else "error", want.error_code)
        assert (row["provider"], row["provider_model"]) == (case.lane.provider, case.lane.provider_model)


@BY_CASE
def test_the_rows_are_the_provider_calls_the_sandbox_received(mix: MixEvidence, case: Case) -> None:
    rows, calls = mix.rows[case.id], _provider_calls(mix, case)
    assert len(calls) == len(rows)
    # The provider's status (None where it sent none: a hang or a reset) is kept on each row.
    assert Counter(row["http_status"] for row in rows) == Counter(call["status"] for call in calls)
    if case.lane.provider == "openai":
        # Every answer OpenAI sent carries its x-request-id; the row keeps it, streamed or cut off.
        answered = Counter(call["request_id"] for call in calls if call["status"] is not None)
        assert Counter(row["provider_request_id"] for row in rows if row["http_status"] is not None) == answered
    if case.lane.provider == "gemini" and expected(case).billing in (Billing.PRICED, Billing.USAGE):
        # A complete Gemini answer names itself with responseId, streamed or not.
        assert all(row["provider_request_id"] is not None for row in rows)


@BY_CASE
def test_the_rows_follow_the_cost_rule_for_what_the_provider_did(mix: MixEvidence, case: Case) -> None:
    billing = expected(case).billing
    costs = [(row["cost_micros"], row["cost_estimated"]) for row in mix.rows[case.id]]
    assert costs, "no rows"
    for cost, estimated in costs:
        assert cost >= 0
        if billing is Billing.PRICED:
            assert cost > 0 and not estimated, costs
        elif billing is Billing.USAGE:
            assert not estimated, costs
        elif billing is Billing.FREE:
            assert (cost, estimated) == (0, False), costs
        elif billing is Billing.POSSIBLY_BILLED:
            assert cost > 0 and estimated, costs
