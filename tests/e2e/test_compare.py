"""``imagegate compare`` end to end: a workload across OpenAI and Gemini routes through a real gateway.

The runner is a client like any other, so the checks are against the gateway's own records: the
sandbox's request log (what was paid for), the ledger (what it cost) and the feedback table.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from imagegate.cli.main import app
from imagegate.service.compare_summary import usd
from tests.support.gateway import GatewayHandle

MODELS = ["gpt-image-2", "nano-banana-2", "nano-banana-pro"]
PROVIDER_MODELS = {
    "gpt-image-2": "gpt-image-2",
    "nano-banana-2": "gemini-3.1-flash-image",
    "nano-banana-pro": "gemini-3-pro-image",
}

WORKLOAD = """\
name: e2e-hero
repeat: 1
presets:
  draft: {gpt-image-2: {size: 1024x1024, quality: low}, nano-banana-2: {size: 1024x1024}, nano-banana-pro: {size: 1024x1024}}
models: [gpt-image-2, nano-banana-2, nano-banana-pro]
prompts:
""" + "".join(f'  - {{prompt: "scene number {i}", preset: draft}}\n' for i in range(10))


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def workload(tmp_path: Path) -> Path:
    path = tmp_path / "workload.yaml"
    path.write_text(WORKLOAD, encoding="utf-8")
    return path


def test_a_workload_across_three_models_reports_what_the_ledger_says(
    google_gateway: GatewayHandle, sandbox_control: httpx.Client, workload: Path, tmp_path: Path
) -> None:
    key = google_gateway.create_key(f"compare-{uuid.uuid4().hex[:8]}")
    sandbox_control.delete("/_sandbox/requests")
    # gpt-image-2 has two prompts blocked by moderation; nano-banana-pro runs out of quota twice.
    sandbox_control.post(
        "/_sandbox/faults",
        json=[
            {"fault": "moderation", "count": 2, "model": "gpt-image-2"},
            {"fault": "quota", "count": 2, "model": "gemini-3-pro-image"},
        ],
    ).raise_for_status()
    out = tmp_path / "runs"
    common = ["--url", google_gateway.url, "--key", key, "--out", str(out)]
    started = json.loads(invoke("compare", "run", str(workload), "--concurrency", "4", "--json", *common))
    run_id = started["run_id"]
    assert started["cells"] == 30
    assert (started.get("ok"), started.get("blocked"), started.get("failed")) == (26, 2, 2)
    # Every cell was one provider call (moderation and quota are not retried).
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 30

    records = [json.loads(line) for line in (out / run_id / "cells.jsonl").read_text().splitlines()]
    delivered = [record for record in records if record["status"] == "ok"]
    # Review: accept the even prompts' images, reject the odd ones.
    for record in delivered:
        verdict = "--accept" if record["prompt_index"] % 2 == 0 else "--reject"
        invoke("compare", "feedback", run_id, record["cell_id"], verdict, *common)

    report = json.loads(invoke("compare", "report", run_id, "--json", "--volume", "1000", *common))
    assert report["run_id"] == run_id
    rows = {row["model"]: row for row in report["models"]}
    assert list(rows) == MODELS

    ledger = [
        row for row in google_gateway.ledger() if row.key_name is not None and row.key_name.startswith("compare-")
    ]
    run_requests = {record["request_id"]: record["model"] for record in records}
    spend: dict[str, int] = defaultdict(int)
    for row in ledger:
        if row.request_id in run_requests:
            spend[run_requests[row.request_id]] += row.cost_micros
    for model in MODELS:
        row = rows[model]
        model_records = [record for record in records if record["model"] == model]
        accepted = sum(1 for r in model_records if r["status"] == "ok" and r["prompt_index"] % 2 == 0)
        rejected = sum(1 for r in model_records if r["status"] == "ok" and r["prompt_index"] % 2 == 1)
        assert row["spend_usd"] == usd(spend[model]), model
        assert spend[model] > 0
        assert (row["accepted"], row["rejected"]) == (accepted, rejected)
        assert Decimal(row["acceptance_rate"]) == (Decimal(accepted) / (accepted + rejected)).quantize(
            Decimal("0.0001")
        )
        per_accepted = (Decimal(spend[model]) / accepted).quantize(Decimal(1))
        assert row["cost_per_accepted_image_usd"] == usd(int(per_accepted))
        assert row["monthly_cost_usd"] == usd(int(per_accepted) * 1000)
        assert row["requested"] == 10
        assert row["latency_indicative"] is True
    assert (rows["gpt-image-2"]["blocked"], rows["gpt-image-2"]["returned"]) == (2, 8)
    assert (rows["nano-banana-pro"]["failed"], rows["nano-banana-pro"]["returned"]) == (2, 8)

    # The run is a tag on ordinary ledger rows: the house report filtered by it gives the same money.
    tagged = [row for row in google_gateway.ledger() if dict(row.tags or {}).get("compare_run") == run_id]
    assert {row.request_id for row in tagged} == set(run_requests)
    house = CliRunner().invoke(
        app,
        ["report", "--by", "model", "--tag", f"compare_run={run_id}", "--json"],
        env={"IMAGEGATE_DATABASE_URL": google_gateway.engine.url.render_as_string(hide_password=False)},
        catch_exceptions=False,
    )
    assert house.exit_code == 0, house.output
    house_spend = {group["model"]: group["spend_usd"] for group in json.loads(house.output)["rows"]}
    assert house_spend == {model: rows[model]["spend_usd"] for model in MODELS}

    page = (out / run_id / "report.html").read_text()
    assert page.count("<img ") == 26
    assert "moderation_blocked" in page
    assert key not in page  # only the key's visible prefix is ever written down


def test_an_interrupted_run_resumes_without_paying_twice(
    google_gateway: GatewayHandle, sandbox_control: httpx.Client, tmp_path: Path
) -> None:
    key = google_gateway.create_key(f"resume-{uuid.uuid4().hex[:8]}")
    path = tmp_path / "slow.yaml"
    prompts = "".join(f'  - "slow scene {i} [sandbox:slow=0.3]"\n' for i in range(6))
    path.write_text(f"name: resume\nmodels: [gpt-image-2, nano-banana-2]\nprompts:\n{prompts}", encoding="utf-8")
    out = tmp_path / "runs"
    sandbox_control.delete("/_sandbox/requests")
    argv = [sys.executable, "-m", "imagegate.cli", "compare", "run", str(path), "--json", "--concurrency", "1"]
    argv += ["--url", google_gateway.url, "--key", key, "--out", str(out)]
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "120"}
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            cells = list(out.glob("cmp_*/cells.jsonl"))
            if cells and len(cells[0].read_text().splitlines()) >= 4:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr.decode()
    (run_dir,) = out.glob("cmp_*")
    done_before = len((run_dir / "cells.jsonl").read_text().splitlines())
    assert 4 <= done_before < 12

    resumed = json.loads(
        invoke(
            "compare",
            "run",
            str(path),
            "--resume",
            run_dir.name,
            "--json",
            "--url",
            google_gateway.url,
            "--key",
            key,
            "--out",
            str(out),
        )
    )
    assert resumed["run_id"] == run_dir.name
    assert resumed.get("ok") == 12
    # Twelve cells, twelve provider calls: finished cells were skipped, and the one in flight at the
    # interruption was answered from the gateway's idempotency store when re-sent.
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 12
    ids = [json.loads(line)["cell_id"] for line in (run_dir / "cells.jsonl").read_text().splitlines()]
    assert sorted(ids) == sorted(set(ids))


def test_a_changed_workload_is_not_resumed(google_gateway: GatewayHandle, workload: Path, tmp_path: Path) -> None:
    key = google_gateway.create_key(f"changed-{uuid.uuid4().hex[:8]}")
    out = tmp_path / "runs"
    run_dir = out / "cmp_000000000001"
    (run_dir / "images").mkdir(parents=True)
    manifest = {
        "run_id": "cmp_000000000001",
        "workload_name": "x",
        "workload_file": str(workload),
        "workload_digest": "not-this-file",
        "url": google_gateway.url,
        "key_prefix": key[:10],
        "created_at": "2026-12-06T00:00:00+00:00",
        "cells": 1,
        "prompts": ["a"],
        "models": ["gpt-image-2"],
    }
    (run_dir / "run.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(
        app,
        [
            "compare",
            "run",
            str(workload),
            "--resume",
            "cmp_000000000001",
            "--url",
            google_gateway.url,
            "--key",
            key,
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 2
    assert "changed since run cmp_000000000001 started" in result.output


def test_a_bad_tags_header_is_refused_before_any_provider_call(
    google_gateway: GatewayHandle, sandbox_control: httpx.Client
) -> None:
    from openai import BadRequestError, OpenAI

    key = google_gateway.create_key(f"tags-{uuid.uuid4().hex[:8]}")
    sandbox_control.delete("/_sandbox/requests")
    client = OpenAI(base_url=google_gateway.url + "/v1", api_key=key, max_retries=0)
    with pytest.raises(BadRequestError) as caught:
        client.images.generate(model="gpt-image-2", prompt="x", extra_headers={"x-imagegate-tags": "no value here"})
    assert caught.value.body["param"] == "x-imagegate-tags"  # type: ignore[index]
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 0
