"""``imagegate routes`` and ``imagegate smoke`` on a real SQLite database, against the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from imagegate.cli.common import console
from imagegate.cli.main import app
from imagegate.store.database import make_engine
from imagegate.store.ledger import SqlLedgerStore

runner = CliRunner()
HEALTHY, BROKEN = "good/openai/gpt-image-2", "flaky/openai/gpt-image-2.5-flare"


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_url: str) -> str:
    def route(model: str) -> dict:
        return {"provider": "openai", "model": model, "base_url": f"{sandbox_url}/v1", "api_key": "sk-cli"}

    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "models": [
                    {"name": "good", "routes": [route("gpt-image-2")]},
                    {"name": "flaky", "routes": [route("gpt-image-2.5-flare")]},
                ]
            }
        )
    )
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("IMAGEGATE_DATABASE_URL", url)
    monkeypatch.setenv("IMAGEGATE_CONFIG", str(config))
    monkeypatch.setenv("IMAGEGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(console, "width", 240)  # whole rows, so route names are not wrapped
    return url


def run(*args: str):
    return runner.invoke(app, list(args))


def _routes(*extra: str) -> dict[str, dict]:
    result = run("routes", "--json", *extra)
    assert result.exit_code == 0, result.output
    return {
        row["route"]: {**row, "policy": alias["policy"]}
        for alias in json.loads(result.stdout)
        for row in alias["routes"]
    }


def test_routes_changes_are_stored_logged_and_rolled_back(cli_env):
    assert _routes()[HEALTHY]["enabled"] is True
    assert run("routes", "disable", HEALTHY).exit_code == 0
    assert run("routes", "weight", HEALTHY, "2.5").exit_code == 0
    assert run("routes", "policy", "good", "cheapest").exit_code == 0
    rows = _routes()
    assert (rows[HEALTHY]["enabled"], rows[HEALTHY]["weight"], rows[HEALTHY]["policy"]) == (False, 2.5, "cheapest")

    assert run("routes", "rollback", "good").exit_code == 0
    assert _routes()[HEALTHY]["policy"] == "priority"
    log = json.loads(run("routes", "log", "--json").stdout)
    assert [entry["action"] for entry in log] == ["rollback", "policy", "reweight", "disable"]
    assert all(entry["actor"].startswith("cli") for entry in log)

    table = run("routes")
    assert table.exit_code == 0 and HEALTHY in table.stdout and "no*" in table.stdout
    assert "rollback of" in run("routes", "log").stdout


def test_routes_errors_exit_2_with_a_message(cli_env):
    unknown = run("routes", "disable", "good/openai/nope")
    assert unknown.exit_code == 2 and "No route named" in unknown.output
    bad = run("routes", "policy", "good", "random")
    assert bad.exit_code == 2 and "priority" in bad.output
    nothing = run("routes", "rollback", "flaky")
    assert nothing.exit_code == 2 and "no routing change left" in nothing.output


def test_smoke_passes_on_healthy_routes_and_records_status_and_a_ledger_row(cli_env):
    result = run("smoke", "--model", "good", "--json")
    assert result.exit_code == 0, result.output
    [check] = json.loads(result.stdout)
    assert (check["route"], check["status"], check["passed"]) == (HEALTHY, "available", True)
    assert check["cost_micros"] > 0 and check["provider_request_id"].startswith("req_")

    row = _routes()[HEALTHY]
    assert (row["status"], row["last_checked_at"], row["calls"]) == ("available", check["checked_at"], 1)
    assert row["p50_ms"] == check["latency_ms"]
    engine = make_engine(cli_env)
    [entry] = SqlLedgerStore(engine).query_entries(key_name="smoke")
    engine.dispose()
    assert (entry.dialect, entry.route, entry.request_id) == ("smoke", HEALTHY, check["request_id"])


def test_smoke_exits_non_zero_when_a_route_fails(cli_env, sandbox_control):
    sandbox_control.post("/_sandbox/faults", json={"fault": "500", "model": "gpt-image-2.5-flare"})
    result = run("smoke")
    assert result.exit_code == 1
    assert BROKEN in result.stdout and "unknown_failure" in result.stdout and "available" in result.stdout
    rows = _routes()
    assert (rows[BROKEN]["status"], rows[BROKEN]["last_check"]["error_code"]) == (
        "unknown_failure",
        "upstream_unavailable",
    )
    assert rows[BROKEN]["error_rate"] == 1.0 and rows[HEALTHY]["status"] == "available"

    unknown = run("smoke", "--route", "flaky/openai/nope")
    assert unknown.exit_code == 2 and "No route named" in unknown.output
