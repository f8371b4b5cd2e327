import random
from collections import Counter

import pytest

from imagegate.routing.policy import order_routes

ROUTES = ["a", "b", "c"]


def test_priority_keeps_configured_order():
    assert order_routes("priority", ROUTES) == ROUTES


def test_cheapest_and_fastest_sort_known_figures_and_keep_unknown_last():
    prices = {"a": 300, "b": 100, "c": None}
    assert order_routes("cheapest", ROUTES, price=prices.get) == ["b", "a", "c"]
    latencies = {"a": None, "b": 900.0, "c": 400.0}
    assert order_routes("fastest", ROUTES, p50=latencies.get) == ["c", "b", "a"]


def test_weighted_follows_weights_and_never_picks_zero_weight_first():
    weights = {"a": 3.0, "b": 1.0, "c": 0.0}
    rng = random.Random(42)
    firsts = Counter(
        order_routes("weighted", ROUTES, weight=weights.get, random_unit=rng.random)[0] for _ in range(4000)
    )
    assert firsts["c"] == 0
    assert 2.4 < firsts["a"] / firsts["b"] < 3.6
    assert order_routes("weighted", ROUTES, weight=weights.get)[-1] == "c"


def test_unknown_policy_is_an_error():
    with pytest.raises(ValueError, match="unknown routing policy"):
        order_routes("random", ROUTES)
