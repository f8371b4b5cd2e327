"""``imagegate catalog``, ``imagegate estimate`` and ``imagegate report`` (in-process CLI runner)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imagegate.accounting.feedback import ImageFeedback
from imagegate.accounting.ports import LedgerEntry
from imagegate.catalog import load_catalog, shipped_files
from imagegate.cli.common import console
from imagegate.cli.main import app
from imagegate.store.database import make_engine
from imagegate.store.feedback import SqlFeedbackStore
from imagegate.store.ledger import SqlLedgerStore

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated data directory (database and price files) and no config file."""
    monkeypatch.setenv("IMAGEGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("IMAGEGATE_CONFIG", raising=False)
    monkeypatch.delenv("IMAGEGATE_DATABASE_URL", raising=False)
    # Tables are asserted on: wide enough that rich never truncates a cell.
    monkeypatch.setattr(console, "width", 240)
    return tmp_path / "data"


def run(*args: str):
    return runner.invoke(app, list(args))


def _shipped_digest() -> str:
    return hashlib.sha256(b"".join(path.read_bytes() for path in shipped_files())).hexdigest()


def _price_file(tmp_path: Path, name: str, rows: list[dict]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"schema_version": 1, "models": rows}))
    return path


def test_catalog_show(env):
    rows = json.loads(run("catalog", "show", "--json").stdout)
    assert len(rows) == len(load_catalog()) and not any(row["served"] for row in rows)
    gpt2 = next(row for row in rows if row["model"] == "gpt-image-2")
    assert gpt2["rates"]["usd_per_1m_tokens"]["image_output"] == "30.00"
    only_fal = json.loads(run("catalog", "show", "--json", "--provider", "fal").stdout)
    assert only_fal and {row["provider"] for row in only_fal} == {"fal"}
    table = run("catalog", "show").stdout
    assert "gpt-image-2" in table and "0.711570" in table and "price files over the shipped data: none" in table


def test_catalog_update_installs_into_the_data_directory(env, tmp_path):
    before = _shipped_digest()
    newer = _price_file(
        tmp_path,
        "openai-2026-12.json",
        [
            {
                "provider": "openai",
                "model": "gpt-image-2",
                "pricing": {"token_rates": {"image_output": "24.00"}, "as_of": "2026-12-01", "source": ["newer"]},
            },
            {
                "provider": "together",
                "model": "black-forest-labs/FLUX.2-pro",
                "family": "flux-2",
                "endpoint_types": ["together"],
                "capabilities": {"operations": ["generate"]},
                "pricing": {
                    "unit": "image",
                    "image_prices": [{"usd": "0.05"}],
                    "source": ["invoice"],
                    "as_of": "2026-11-30",
                },
                "source": ["operator"],
                "as_of": "2026-11-30",
            },
        ],
    )
    dry = run("catalog", "update", str(newer), "--dry-run")
    assert dry.exit_code == 0 and "1 added, 1 changed" in dry.stdout
    assert "changed  openai/gpt-image-2 (price)" in dry.stdout and not (env / "catalog").exists()
    result = run("catalog", "update", str(newer))
    assert result.exit_code == 0, result.output
    assert (env / "catalog" / "openai-2026-12.json").read_bytes() == newer.read_bytes()
    rows = {row["model"]: row for row in json.loads(run("catalog", "show", "--json").stdout)}
    assert rows["gpt-image-2"]["rates"]["usd_per_1m_tokens"]["image_output"] == "24.00"
    assert rows["black-forest-labs/FLUX.2-pro"]["default_image"]["usd"] == "0.050000"
    # Installing it again changes nothing; the package's own rows were never written.
    again = run("catalog", "update", str(newer))
    assert again.exit_code == 0 and "0 added, 0 changed" in again.stdout
    assert _shipped_digest() == before
    assert load_catalog().find("openai", "gpt-image-2").price.token_rates.image_output == 30


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [{"provider": "openai", "model": "gpt-image-2", "pricing": {"token_rates": {"image_output": "lots"}}}],
            "pricing.token_rates.image_output",
        ),
        ([{"provider": "openai", "model": "brand-new", "pricing": {"unit": "image"}}], "catalog row openai/brand-new"),
    ],
)
def test_catalog_update_refuses_invalid_files(env, tmp_path, rows, message):
    result = run("catalog", "update", str(_price_file(tmp_path, "bad.json", rows)))
    assert result.exit_code == 2 and message in result.output
    assert not (env / "catalog").exists()


def test_catalog_update_needs_json(env, tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text("models: []")
    assert run("catalog", "update", str(path)).exit_code == 2


def test_estimate_worked_example_a(env):
    args = [
        "estimate",
        "gpt-image-2",
        "--size",
        "1024x1024",
        "--quality",
        "medium",
        "--prompt-tokens",
        "60",
        "--monthly-images",
        "1000",
        "--acceptance-rate",
        "0.85",
    ]
    body = json.loads(run(*args, "--json").stdout)
    [gpt2] = body["models"]
    assert (gpt2["per_request_usd"], gpt2["per_month_usd"], gpt2["per_accepted_image_usd"]) == (
        "0.052980",
        "52.980000",
        "0.062329",
    )
    table = run(*args).stdout
    assert "$0.052980" in table and "$52.98" in table and "$0.062329" in table
    batch = json.loads(run(*args, "--batch", "--json").stdout)["models"][0]
    assert batch["per_month_usd"] == "26.490000"


def test_estimate_failures(env):
    unknown = run("estimate", "dall-e-4")
    assert unknown.exit_code == 1 and "neither served" in unknown.stdout
    bad = run("estimate", "gpt-image-2", "--acceptance-rate", "2")
    assert bad.exit_code == 2 and "--acceptance-rate" in bad.output
    for size in ("0x0", "1024X1024", "１０２４x１０２４"):
        bad_size = run("estimate", "gpt-image-2", "flux-2-pro", "--size", size)
        assert bad_size.exit_code == 2 and f"--size: Value error, {size!r} is not a size" in bad_size.output
    bad_reference = run("estimate", "gpt-image-2", "--reference", "big")
    assert bad_reference.exit_code == 2 and "not a size: 'big'" in bad_reference.output


def test_report_csv_and_table(env):
    assert run("keys", "list").exit_code == 0  # creates and migrates the database
    engine = make_engine(f"sqlite:///{env / 'imagegate.db'}")
    now = datetime.now(UTC)

    def entry(request_id: str, **fields) -> LedgerEntry:
        base = {
            "request_id": request_id,
            "attempt": 1,
            "model": "gpt-image-2",
            "provider": "openai",
            "provider_model": "gpt-image-2",
            "route": "gpt-image-2/openai/gpt-image-2",
            "operation": "generate",
            "dialect": "openai-images",
            "status": "ok",
            "created_at": now - timedelta(minutes=5),
            "key_name": "web",
            "images": 1,
            "cost_micros": 52_980,
        }
        return LedgerEntry(**{**base, **fields})

    SqlLedgerStore(engine).append_entries(
        [
            entry("req_1"),
            entry("req_2"),
            entry("req_3", status="error", images=0, cost_micros=0),
            entry("req_old", created_at=now - timedelta(days=40)),
        ]
    )
    feedback = SqlFeedbackStore(engine)
    for request_id, accepted in [("req_1", True), ("req_2", False)]:
        feedback.append_feedback(ImageFeedback(request_id, 0, accepted, None, "web", now))
    engine.dispose()

    result = run("report", "--by", "model", "--since", "30d", "--csv")
    assert result.exit_code == 0, result.output
    [row] = list(csv.DictReader(io.StringIO(result.stdout)))
    assert row == {
        "model": "gpt-image-2",
        "requests": "3",
        "attempts": "3",
        "failed_attempts": "1",
        "images": "2",
        "accepted": "1",
        "rejected": "1",
        "unrated": "0",
        "acceptance_rate": "0.5000",
        "spend_usd": "0.105960",
        "estimated_spend_usd": "0.000000",
        "cost_per_image_usd": "0.052980",
        "cost_per_accepted_image_usd": "0.105960",
        "moderated_attempts": "0",
    }
    everything = json.loads(run("report", "--by", "key", "--json").stdout)
    assert everything["rows"][0]["key"] == "web" and everything["total"]["spend_usd"] == "0.158940"
    table = run("report", "--by", "route", "--since", "30d").stdout
    assert "gpt-image-2/openai/gpt-image-2" in table and "total" in table and "0.105960" in table
    assert run("report", "--by", "color").exit_code == 2
    assert run("report", "--since", "last week").exit_code == 2
