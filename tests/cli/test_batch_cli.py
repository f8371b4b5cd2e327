"""``imagegate batch`` end to end: the CLI, a real SQLite database, the sandbox's OpenAI and Gemini Batch APIs.

The sandbox completes a batch on its second status read (``SandboxConfig.batch_polls``). Costs are
checked against an independent computation from the catalog's published rates (pricing.md) and the
usage the provider reported per line, at the batch tier (half of standard).
"""

from __future__ import annotations

import base64
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from imagegate.cli.main import app
from imagegate.service.batches import OPERATOR_KEY_NAME
from imagegate.store.database import make_engine
from imagegate.store.ledger import SqlLedgerStore
from tests.sandbox.helpers import encoded_image

runner = CliRunner()
BATCH = Decimal("0.5")  # the batch tier of every row used here (catalog: tiers.batch.multiplier)
PER_MILLION = Decimal(1_000_000)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_url: str) -> str:
    def route(provider: str, model: str, **extra: Any) -> dict[str, Any]:
        base = f"{sandbox_url}/v1" if provider == "openai" else sandbox_url
        return {"provider": provider, "model": model, "base_url": base, "api_key": "sk-batch", **extra}

    config = tmp_path / "gateway.yaml"
    models = [
        {"name": "gpt", "routes": [route("openai", "gpt-image-2")]},
        {"name": "banana", "routes": [route("gemini", "gemini-2.5-flash-image")]},
        {"name": "vertex", "routes": [route("gemini", "gemini-2.5-flash-image", options={"vertex_project": "p"})]},
    ]
    config.write_text(yaml.safe_dump({"models": models}))
    url = f"sqlite:///{tmp_path / 'batch.db'}"
    monkeypatch.setenv("IMAGEGATE_DATABASE_URL", url)
    monkeypatch.setenv("IMAGEGATE_CONFIG", str(config))
    monkeypatch.setenv("IMAGEGATE_DATA_DIR", str(tmp_path / "data"))
    return url


def run(*args: str) -> Any:
    return runner.invoke(app, list(args))


def batch_file(tmp_path: Path, prompts: list[str], **fields: Any) -> Path:
    path = tmp_path / "batch.jsonl"
    lines = [json.dumps({"custom_id": f"req-{i:02d}", "prompt": prompt, **fields}) for i, prompt in enumerate(prompts)]
    path.write_text("\n".join(lines) + "\n")
    return path


def submit(path: Path, model: str) -> str:
    result = run("batch", "submit", str(path), "--model", model, "--json")
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["id"])


def status(batch_id: str) -> dict[str, Any]:
    result = run("batch", "status", batch_id, "--json")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def rows(url: str, model: str) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        entries = SqlLedgerStore(engine).query_entries(key_name=OPERATOR_KEY_NAME, model=model, limit=1000)
    finally:
        engine.dispose()
    return {entry.request_id: entry for entry in entries}


def micros(usd_per_million_tokens: Decimal) -> int:
    return int((usd_per_million_tokens * BATCH).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def openai_cost(usage: dict[str, Any]) -> int:
    """gpt-image-2: text in $5, image in $8, image out $30 per 1M tokens (catalog), times the batch tier."""
    details = usage.get("input_tokens_details") or {}
    text_in = details.get("text_tokens", usage["input_tokens"])
    image_in = details.get("image_tokens", 0)
    return micros(Decimal(text_in) * 5 + Decimal(image_in) * 8 + Decimal(usage["output_tokens"]) * 30)


def gemini_cost(usage: dict[str, Any]) -> int:
    """gemini-2.5-flash-image: text in $0.30, text out $2.50, image out $30 per 1M tokens, times the batch tier."""
    out = {item["modality"]: item["tokenCount"] for item in usage.get("candidatesTokensDetails", [])}
    amount = (
        Decimal(usage.get("promptTokenCount", 0)) * Decimal("0.30")
        + Decimal(out.get("IMAGE", 0)) * 30
        + (Decimal(out.get("TEXT", 0)) + Decimal(usage.get("thoughtsTokenCount", 0))) * Decimal("2.50")
    )
    return micros(amount)


@pytest.mark.parametrize(
    ("model", "cost", "extra"), [("gpt", openai_cost, {"quality": "low"}), ("banana", gemini_cost, {})]
)
def test_twenty_requests_through_the_provider_batch_api(cli_env, tmp_path, model, cost, extra):
    prompts = [f"a lighthouse, variation {i}" for i in range(20)]
    prompts[7] = "a lighthouse [sandbox:moderation]"  # this one request fails alone
    batch_id = submit(batch_file(tmp_path, prompts, **extra), model)

    first = status(batch_id)
    assert (first["state"], first["requests"], first["settled"]) == ("running", 20, False)
    assert rows(cli_env, model) == {}  # nothing billed while the provider works
    final = status(batch_id)
    assert (final["state"], final["succeeded"], final["failed"], final["settled"]) == ("completed", 19, 1, True)

    out = tmp_path / "out"
    result = run("batch", "results", batch_id, "--out", str(out))
    assert result.exit_code == 0, result.output
    summary = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [item["custom_id"] for item in summary] == [f"req-{i:02d}" for i in range(20)]
    failed = summary[7]
    assert failed["status"] == "error" and failed["error"] == "moderation_blocked" and failed["files"] == []
    for item in summary[:7] + summary[8:]:
        assert item["status"] == "ok" and len(item["files"]) == 1
        assert (out / item["files"][0]).read_bytes()[:4] in (
            b"\x89PNG",
            b"\xff\xd8\xff\xe0",
            b"\xff\xd8\xff\xe1",
            b"RIFF",
        )

    ledger = rows(cli_env, model)
    assert len(ledger) == 20  # one row per request, none for the batch calls themselves
    ok = [entry for entry in ledger.values() if entry.status == "ok"]
    assert len(ok) == 19
    for entry in ok:
        assert entry.cost_micros == cost(entry.usage) and entry.cost_micros > 0 and not entry.cost_estimated
        assert entry.request_id.startswith(batch_id + ":")
    blocked = ledger[f"{batch_id}:8"]
    assert (blocked.status, blocked.error_code) == ("error", "moderation_blocked")
    assert final["cost_micros"] == sum(entry.cost_micros for entry in ledger.values())

    # Polling a settled batch again never bills twice.
    assert status(batch_id)["cost_micros"] == final["cost_micros"]
    assert len(rows(cli_env, model)) == 20


@pytest.mark.parametrize("model", ["gpt", "banana"])
def test_cancel_records_every_request_at_no_cost(cli_env, tmp_path, model):
    batch_id = submit(batch_file(tmp_path, ["a", "b", "c"]), model)
    result = run("batch", "cancel", batch_id)
    assert result.exit_code == 0, result.output
    record = status(batch_id)
    assert (record["state"], record["failed"], record["cost_micros"]) == ("cancelled", 3, 0)
    ledger = rows(cli_env, model)
    assert {(entry.error_code, entry.cost_micros) for entry in ledger.values()} == {("batch_cancelled", 0)}
    assert len(ledger) == 3


@pytest.mark.parametrize("model", ["gpt", "banana"])
def test_an_expired_batch_records_its_requests_as_expired(cli_env, tmp_path, model):
    batch_id = submit(batch_file(tmp_path, ["a [sandbox:batch-expire]", "b"]), model)
    status(batch_id)
    record = status(batch_id)
    assert (record["state"], record["succeeded"], record["failed"]) == ("expired", 0, 2)
    assert {entry.error_code for entry in rows(cli_env, model).values()} == {"batch_expired"}


def test_results_of_a_running_batch_are_refused(cli_env, tmp_path):
    batch_id = submit(batch_file(tmp_path, ["a"]), "gpt")
    result = run("batch", "results", batch_id, "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and "still running" in result.output


def test_a_route_without_a_batch_api_is_refused_before_anything_is_sent(cli_env, tmp_path):
    result = run("batch", "submit", str(batch_file(tmp_path, ["a"])), "--model", "vertex")
    assert result.exit_code == 2
    assert "no route with a provider Batch API" in result.output


def test_bad_lines_are_named_before_anything_is_sent(cli_env, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "ok"}\n{"prompt": "x", "size": "13x13"}\n')
    result = run("batch", "submit", str(path), "--model", "gpt")
    assert result.exit_code == 2 and "line 2" in result.output and "size" in result.output
    unknown = run("batch", "status", "batch_nope")
    assert unknown.exit_code == 2 and "No batch with id" in unknown.output


def _data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


@pytest.mark.parametrize(("model", "cost"), [("gpt", openai_cost), ("banana", gemini_cost)])
def test_edits_go_through_the_batch_api_with_their_input_images_billed(cli_env, tmp_path, model, cost):
    image = _data_url(encoded_image(1024, 1024))
    prompts = ["add a hat", "add a scarf [sandbox:moderation]", "add boots"]
    path = batch_file(tmp_path, prompts, images=[{"image_url": image}])
    batch_id = submit(path, model)
    status(batch_id)
    final = status(batch_id)
    assert (final["state"], final["succeeded"], final["failed"]) == ("completed", 2, 1)

    out = tmp_path / "out"
    assert run("batch", "results", batch_id, "--out", str(out)).exit_code == 0
    summary = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(item["status"], item["error"]) for item in summary] == [
        ("ok", None),
        ("error", "moderation_blocked"),
        ("ok", None),
    ]
    ledger = rows(cli_env, model)
    assert {entry.operation for entry in ledger.values()} == {"edit"}
    for entry in (ledger[f"{batch_id}:1"], ledger[f"{batch_id}:3"]):
        assert entry.cost_micros == cost(entry.usage) and entry.cost_micros > 0 and not entry.cost_estimated
    if model == "gpt":
        # gpt-image-2 reads inputs at high fidelity: 194 tile tokens + 4096 (the sandbox's rule).
        assert ledger[f"{batch_id}:1"].usage["input_tokens_details"]["image_tokens"] == 194 + 4096
    assert final["cost_micros"] == sum(entry.cost_micros for entry in ledger.values())


def test_edit_lines_take_data_urls_only_and_do_not_mix_with_generations(cli_env, tmp_path):
    image = _data_url(encoded_image(64, 64))
    cases = [
        ([{"prompt": "a", "images": [{"image_url": "https://example.com/a.png"}]}], "images[0].image_url"),
        ([{"prompt": "a", "images": [{"file_id": "file-1"}]}], "images[0].file_id"),
        ([{"prompt": "a", "images": [{"image_url": image}]}, {"prompt": "b"}], "line 2"),
        ([{"prompt": "a", "images": [{"image_url": image}], "mask": {"image_url": image}}], "alpha"),
    ]
    for lines, named in cases:
        path = tmp_path / "edits.jsonl"
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        result = run("batch", "submit", str(path), "--model", "gpt")
        assert result.exit_code == 2 and named in result.output, result.output
    assert rows(cli_env, "gpt") == {}
