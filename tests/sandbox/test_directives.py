"""Directive parsing and combination (pure, no network)."""

from __future__ import annotations

import pytest

from imagegate.sandbox.directives import (
    DIRECTIVE_NAMES,
    Directive,
    DirectiveError,
    find_directives,
    parse_fault,
    plan_faults,
)


def test_every_documented_name_parses() -> None:
    assert set(DIRECTIVE_NAMES) == {
        "moderation",
        "429",
        "quota",
        "401",
        "500",
        "502",
        "503",
        "slow",
        "hang",
        "reset",
        "truncated",
        "malformed",
        "stream-error",
        "no-image",
        "moderation-item",
        "prohibited",
        "filtered",
        "polls",
        "never-finish",
        "task-error",
        "expired",
    }
    for name in DIRECTIVE_NAMES:
        assert parse_fault(name).name == name


def test_polls_takes_a_count() -> None:
    assert parse_fault("polls=3").count == 3
    assert parse_fault("polls").count is None
    assert plan_faults([parse_fault("polls=3")]).delay_s == 0
    with pytest.raises(DirectiveError):
        parse_fault("polls=-1")


def test_find_directives_in_order_and_case_insensitive() -> None:
    found = find_directives("a cat [sandbox:slow=0.5] on a mat [SANDBOX:500] [sandbox:429=2.5]")
    assert found == [Directive("slow", seconds=0.5), Directive("500"), Directive("429", seconds=2.5)]


def test_prompt_without_directives() -> None:
    assert find_directives("a [sandbox] cat [other:500]") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("429", Directive("429", seconds=1.0)),
        ("429=2.5", Directive("429", seconds=2.5)),
        ("slow", Directive("slow", seconds=1.0)),
        ("slow=3", Directive("slow", seconds=3.0)),
        ("moderation", Directive("moderation", stage="input")),
        ("moderation=output", Directive("moderation", stage="output")),
        ("stream-error", Directive("stream-error")),
    ],
)
def test_parse_fault_values(text: str, expected: Directive) -> None:
    assert parse_fault(text) == expected


@pytest.mark.parametrize(
    "text", ["bogus", "500=1", "slow=abc", "slow=-1", "slow=nan", "slow=100000", "moderation=middle", "hang=2"]
)
def test_parse_fault_rejects(text: str) -> None:
    with pytest.raises(DirectiveError):
        parse_fault(text)


def test_bad_directive_in_prompt_raises() -> None:
    with pytest.raises(DirectiveError, match="unknown sandbox directive"):
        find_directives("hello [sandbox:teapot]")


def test_labels_round_trip() -> None:
    for text in ("429=2.5", "slow=3", "moderation=output", "reset"):
        assert parse_fault(parse_fault(text).label()) == parse_fault(text)


def test_plan_slow_combines_and_first_outcome_wins() -> None:
    plan = plan_faults(find_directives("[sandbox:slow=0.2][sandbox:503][sandbox:slow=0.3][sandbox:500]"))
    assert plan.delay_s == pytest.approx(0.5)
    assert plan.outcome == Directive("503")
    assert plan.labels() == ["slow=0.2", "503", "slow=0.3"]


def test_plan_empty() -> None:
    plan = plan_faults([])
    assert plan.delay_s == 0.0
    assert plan.outcome is None
