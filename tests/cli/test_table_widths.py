"""``usage``, ``report`` and ``routes`` at 80 columns: readable, columns chosen by width, money never cut."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from imagegate.accounting.ports import LedgerEntry
from imagegate.cli.main import app
from imagegate.cli.tables import Column, fitted_table
from imagegate.store.database import make_engine
from imagegate.store.ledger import SqlLedgerStore

runner = CliRunner()
LONG_ALIAS = "marketing-hero-images-eu"
COSTS = (1_234_567_891, 33_800, 5_880)  # $1234.567891: the widest figure must survive intact


def _entry(request_id: str, minutes_ago: int, cost: int) -> LedgerEntry:
    return LedgerEntry(
        request_id=request_id,
        attempt=1,
        model=LONG_ALIAS,
        provider="openai",
        provider_model="gpt-image-2",
        route=f"{LONG_ALIAS}/openai/gpt-image-2",
        operation="generate",
        dialect="openai-images",
        status="ok",
        created_at=datetime.now(UTC) - timedelta(minutes=minutes_ago),
        key_name="web-frontend-production",
        images=1,
        usage={"output_tokens": 196},
        cost_micros=cost,
        latency_ms=12_345,
        provider_request_id="req_up",
    )


@pytest.fixture
def ledger_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "gateway.yaml"
    route = {"provider": "openai", "model": "gpt-image-2", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk"}
    config.write_text(yaml.safe_dump({"models": [{"name": LONG_ALIAS, "routes": [route]}]}))
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("IMAGEGATE_DATABASE_URL", url)
    monkeypatch.setenv("IMAGEGATE_CONFIG", str(config))
    monkeypatch.setenv("IMAGEGATE_DATA_DIR", str(tmp_path / "data"))
    assert runner.invoke(app, ["keys", "list"]).exit_code == 0  # migrates the database
    entries = [_entry(f"req_{index:024d}", index, cost) for index, cost in enumerate(COSTS)]
    SqlLedgerStore(make_engine(url)).append_entries(entries)


def _run(columns: int, *args: str) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.stdout


def _fits(output: str, columns: int) -> None:
    too_wide = [line for line in output.splitlines() if len(line) > columns]
    assert too_wide == [], f"lines over {columns} columns:\n" + "\n".join(too_wide)


@pytest.mark.parametrize(
    ("command", "money"),
    [
        (("usage",), ["1234.567891", "0.033800", "0.005880"]),
        (("report", "--by", "route"), ["1234.607571"]),  # the spend total
    ],
)
def test_ledger_tables_fit_80_columns_and_show_every_cost_whole(ledger_env, command, money):
    narrow = _run(80, *command)
    _fits(narrow, 80)
    for figure in money:
        assert figure in narrow
    assert "not shown at this width" in narrow
    wide = _run(250, *command)
    assert "not shown at this width" not in wide
    for figure in money:
        assert figure in wide


def test_usage_at_80_columns_keeps_the_request_id_model_status_and_cost(ledger_env):
    narrow = _run(80, "usage")
    assert "time (UTC)" in narrow and "request" in narrow and "status" in narrow and "cost $" in narrow
    assert "req_" in narrow and "ok" in narrow


def test_routes_fit_80_columns(ledger_env):
    narrow = _run(80, "routes")
    _fits(narrow, 80)
    assert "status" in narrow and "enabled" in narrow
    wide = _run(250, "routes")
    assert "p50/p95 ms" in wide and "last checked" in wide


def test_usage_request_shows_one_requests_attempts(ledger_env):
    rows = json.loads(_run(200, "usage", "--json", "--request", "req_" + "1".zfill(24)))
    assert [(row["request_id"], row["cost_usd"]) for row in rows] == [("req_" + "1".zfill(24), "0.033800")]
    assert json.loads(_run(200, "usage", "--json", "--request", "req_missing")) == []


def test_usage_limit_says_when_more_rows_exist(ledger_env):
    limited = runner.invoke(app, ["usage", "--limit", "2"], env={"COLUMNS": "200"})
    assert "more rows exist: showing the newest 2" in limited.stdout
    assert "req_" + "2".zfill(24) not in limited.stdout
    everything = runner.invoke(app, ["usage", "--limit", "3"], env={"COLUMNS": "200"})
    assert "more rows exist" not in everything.stdout
    as_json = runner.invoke(app, ["usage", "--json", "--limit", "2"], env={"COLUMNS": "200"})
    assert len(json.loads(as_json.stdout)) == 2 and "more rows exist" in as_json.stderr


def test_the_least_important_columns_go_first_and_required_ones_never_do():
    columns = [Column("name", shrink=True), Column("cost $", justify="right"), Column("extra", priority=1)]
    rows = [["a-very-long-name-that-will-not-fit-anywhere", "1234.567891", "x" * 30]]
    table = fitted_table(40, columns, rows)
    assert [column.header for column in table.columns] == ["name", "cost $"]
    assert table.caption is not None and "extra" in table.caption
    assert [column.header for column in fitted_table(200, columns, rows).columns] == ["name", "cost $", "extra"]
