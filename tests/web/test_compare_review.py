"""Compare end to end with the review in the browser: a workload of 10 prompts x 3 models (an OpenAI,
a Gemini and a FLUX route) run by ``imagegate compare run``, one model failing some prompts by
directive, every image reviewed in the console's grid in headless Chromium (clicks and the a/r keys),
and the summary checked against the ledger to the micro-dollar."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from imagegate.service.compare_summary import usd
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.flux import alias, route
from tests.support.gateway import GatewayHandle, running_gateway
from tests.support.google import google_models_config
from tests.web.conftest import ARTIFACTS

MASTER = "mk-compare-review"
MODELS = ["gpt-image-2", "nano-banana-2", "flux-2-pro"]


@pytest.fixture(scope="module")
def review_gateway(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHandle]:
    """OpenAI, Gemini and FLUX (BFL) aliases over the sandbox, image storage on, a master key."""
    document = google_models_config(sandbox_url)
    document["models"] = [model for model in document["models"] if model["name"] in MODELS]
    document["models"].append(alias("flux-2-pro", route("bfl", "flux-2-pro", sandbox_url)))
    document["breaker"] = {"consecutive_failures": 10_000, "failure_rate": 1.0, "min_calls": 10_000}
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("compare-review") / "imagegate.db")
    with running_gateway(engine, document, master_key=MASTER) as handle:
        yield handle
    engine.dispose()


def run_workload(gateway: GatewayHandle, sandbox: httpx.Client, tmp_path: Path) -> tuple[str, list[dict[str, Any]]]:
    key = gateway.create_key(f"review-{uuid.uuid4().hex[:8]}")
    workload = tmp_path / "workload.yaml"
    prompts = "".join(f'  - "scene {i}"\n' for i in range(10))
    workload.write_text(f"name: review\nmodels: [{', '.join(MODELS)}]\nprompts:\n{prompts}", encoding="utf-8")
    sandbox.post(
        "/_sandbox/faults", json={"fault": "moderation", "count": 3, "model": "gpt-image-2"}
    ).raise_for_status()
    out = tmp_path / "runs"
    options = ["--url", gateway.url, "--key", key, "--out", str(out)]
    # A process of its own, as a user runs it (and the browser's event loop owns this thread).
    ran = subprocess.run(
        [sys.executable, "-m", "imagegate.cli", "compare", "run", str(workload), "--json", *options],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr
    started = json.loads(ran.stdout)
    assert (started["cells"], started.get("ok"), started.get("blocked")) == (30, 27, 3)
    records = [json.loads(line) for line in (out / started["run_id"] / "cells.jsonl").read_text().splitlines()]
    return started["run_id"], records


def test_review_in_the_console_and_the_summary_equals_the_ledger(
    browser: Any, review_gateway: GatewayHandle, sandbox_control: httpx.Client, tmp_path: Path
) -> None:
    run_id, records = run_workload(review_gateway, sandbox_control, tmp_path)
    delivered = [record for record in records if record["status"] == "ok"]
    assert all(len(record["image_urls"]) == 1 for record in delivered)  # stored by the gateway, shown by URL

    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=review_gateway.url)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(str(error)))
    tab.goto("/console")
    tab.get_by_label("Master key or admin key").fill(MASTER)
    tab.keyboard.press("Enter")
    tab.wait_for_url("**/console/overview")
    tab.get_by_role("link", name="Compare").click()
    tab.wait_for_url("**/console/compare")
    tab.get_by_role("link", name=run_id).click()
    tab.wait_for_url(f"**/console/compare/{run_id}")
    assert tab.locator("figure.review").count() == 27
    tab.screenshot(path=str(ARTIFACTS / "compare-grid.png"))  # the first screen: docs/compare-grid.png

    # Even prompts accepted with the button, odd ones rejected with the "r" key on the focused image.
    for record in delivered:
        figure_id = f"img-{record['request_id']}-0"
        figure = tab.locator(f"#{figure_id}")
        figure.scroll_into_view_if_needed()
        # The stored image itself loads in the page (lazily, once in view): a real, decodable file.
        tab.wait_for_function(
            "id => { const i = document.getElementById(id).querySelector('img'); return i.complete && i.naturalWidth > 0; }",
            arg=figure_id,
            timeout=10_000,
        )
        with tab.expect_navigation():
            if record["prompt_index"] % 2 == 0:
                figure.get_by_role("button", name="Accept").click()
            else:
                figure.focus()
                tab.keyboard.press("r")
        assert tab.locator(f"#img-{record['request_id']}-0").get_attribute("data-verdict") == (
            "accepted" if record["prompt_index"] % 2 == 0 else "rejected"
        )
    summary = {
        row.get_attribute("data-model"): {
            name: row.locator(f"[data-figure={name}]").inner_text()
            for name in ("accepted", "rejected", "spend", "per-accepted")
        }
        for row in tab.locator("#compare-summary tbody tr").all()
    }
    tab.screenshot(path=str(ARTIFACTS / "compare-reviewed.png"), full_page=True)
    context.close()
    assert problems == []

    assert review_gateway.runtime.ledger.wait_idle(10.0)
    model_of = {record["request_id"]: record["model"] for record in records}
    spend: dict[str, int] = defaultdict(int)
    for row in review_gateway.ledger():
        if row.request_id in model_of:
            spend[model_of[row.request_id]] += row.cost_micros
    for model in MODELS:
        mine = [record for record in delivered if record["model"] == model]
        accepted = sum(1 for record in mine if record["prompt_index"] % 2 == 0)
        rejected = len(mine) - accepted
        per_accepted = int((Decimal(spend[model]) / accepted).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        assert spend[model] > 0
        assert summary[model] == {
            "accepted": str(accepted),
            "rejected": str(rejected),
            "spend": f"${usd(spend[model])}",
            "per-accepted": f"${usd(per_accepted)}",
        }, model
