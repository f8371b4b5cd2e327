"""``imagegate teams``, ``keys`` (create/update/rotate/revoke) and their tables at 80 columns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imagegate.accounting.keys import hash_key
from imagegate.cli.main import app
from imagegate.store.database import make_engine
from imagegate.store.keys import SqlKeyStore

runner = CliRunner()


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'gov-cli.db'}"
    monkeypatch.setenv("IMAGEGATE_DATABASE_URL", url)
    monkeypatch.setenv("IMAGEGATE_DATA_DIR", str(tmp_path))
    return url


def run(*args: str, columns: int = 200):
    return runner.invoke(app, list(args), env={"COLUMNS": str(columns)})


def ok(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_teams_create_list_show_update(db_url):
    created = json.loads(
        ok("teams", "create", "marketing-hero-images-eu", "--budget-usd", "250.50", "--budget-period", "week",
           "--image-quota", "5000", "--rpm", "120", "--ipm", "240", "--max-concurrent", "16", "--alert-at", "50,80,100",
           "--json")
    )  # fmt: skip
    assert created["limits"] == {
        "budget_usd": "250.500000",
        "budget_period": "week",
        "image_quota": 5000,
        "quota_period": "month",
        "rpm": 120,
        "ipm": 240,
        "max_concurrent": 16,
    }
    assert created["alert_thresholds"] == [50, 80, 100]
    updated = json.loads(
        ok("teams", "update", "marketing-hero-images-eu", "--rpm", "none", "--alert-at", "none", "--json")
    )
    assert updated["limits"]["rpm"] is None and updated["limits"]["ipm"] == 240 and updated["alert_thresholds"] is None
    assert json.loads(ok("teams", "show", "marketing-hero-images-eu", "--json")) == updated
    narrow = run("teams", "list", columns=80)
    assert narrow.exit_code == 0
    assert all(len(line) <= 80 for line in narrow.stdout.splitlines())
    assert "250.500000" in narrow.stdout
    for args, needle in [
        (("teams", "create", "marketing-hero-images-eu"), "already exists"),
        (("teams", "show", "nobody"), "no team named"),
        (("teams", "update", "nobody", "--rpm", "5"), "no team named"),
        (("teams", "create", "x", "--image-quota", "many"), "image_quota"),
        (("teams", "create", "y", "--quota-period", "year"), "quota_period"),
    ]:
        failed = run(*args)
        assert failed.exit_code == 2 and needle in failed.output, (args, failed.output)


def test_keys_lifecycle(db_url):
    ok("teams", "create", "ads")
    created = json.loads(
        ok("keys", "create", "--name", "ads-batch", "--team", "ads", "--models", "gpt-image-*,nano-banana-2",
           "--dialects", "openai-images", "--role", "admin-read", "--expires-in", "30d", "--tag", "env=prod",
           "--tag", "owner=ads", "--budget-usd", "10", "--image-quota", "100", "--alert-at", "80", "--json")
    )  # fmt: skip
    assert (created["team"], created["role"], created["models"], created["dialects"]) == (
        "ads",
        "admin-read",
        ["gpt-image-*", "nano-banana-2"],
        ["openai-images"],
    )
    assert created["tags"] == {"env": "prod", "owner": "ads"} and created["alert_thresholds"] == [80]
    assert created["limits"]["budget_usd"] == "10.000000" and created["expires_at"] is not None
    store = SqlKeyStore(make_engine(db_url))
    assert store.key_by_hash(hash_key(created["key"])) is not None

    updated = json.loads(
        ok("keys", "update", "ads-batch", "--team", "none", "--models", "all", "--expires-in", "never",
           "--budget-usd", "none", "--json")
    )  # fmt: skip
    assert (updated["team"], updated["models"], updated["expires_at"], updated["limits"]["budget_usd"]) == (
        None,
        None,
        None,
        None,
    )
    assert updated["limits"]["image_quota"] == 100 and updated["role"] == "admin-read"

    rotated = json.loads(ok("keys", "rotate", "ads-batch", "--grace", "1h", "--json"))
    assert rotated["key"] != created["key"] and rotated["previous_valid_until"] is not None
    record = store.key_by_hash(hash_key(created["key"]))
    assert record is not None and record.previous_key_hash == hash_key(created["key"])
    plain = ok("keys", "rotate", "ads-batch")
    assert "will not be shown again" in plain
    ok("keys", "revoke", "ads-batch")
    listing = run("keys", "list", columns=80)
    assert listing.exit_code == 0 and "revoked" in listing.stdout
    assert all(len(line) <= 80 for line in listing.stdout.splitlines())
    for args, needle in [
        (("keys", "revoke", "ads-batch"), "no active key"),
        (("keys", "rotate", "ads-batch"), "no active key"),
        (("keys", "rotate", "x", "--grace", "soon"), "--grace"),
        (("keys", "create", "--name", "z", "--team", "nobody"), "no team named"),
        (("keys", "create", "--name", "z", "--dialects", "soap"), "dialect"),
        (("keys", "create", "--name", "z", "--tag", "novalue"), "NAME=VALUE"),
        (("keys", "create", "--name", "z", "--expires-in", "forever"), "--expires-in"),
        (("keys", "list", "--team", "nobody"), "no team named"),
    ]:
        failed = run(*args)
        assert failed.exit_code == 2 and needle in failed.output, (args, failed.output)
    assert json.loads(ok("keys", "list", "--team", "ads", "--json")) == []


def test_usage_and_report_by_team(db_url):
    from datetime import UTC, datetime, timedelta

    from imagegate.store.ledger import SqlLedgerStore
    from tests.governance.rows import ledger_row

    ok("db", "upgrade")
    now = datetime.now(UTC) - timedelta(minutes=5)
    SqlLedgerStore(make_engine(db_url)).append_entries(
        [
            ledger_row("req_a", now, key_name="web", team="design", cost_micros=40_000),
            ledger_row("req_b", now, key_name="web", team="design", cost_micros=2_000),
            ledger_row("req_c", now, key_name="batch", team="ads", cost_micros=5_000),
            ledger_row("req_d", now, key_name="solo", team=None, cost_micros=1_000),
        ]
    )
    report = json.loads(ok("report", "--by", "team", "--json"))
    assert [(row["team"], row["spend_usd"]) for row in report["rows"]] == [
        ("design", "0.042000"),
        ("ads", "0.005000"),
        (None, "0.001000"),
    ]
    rows = json.loads(ok("usage", "--team", "design", "--json"))
    assert sorted(row["request_id"] for row in rows) == ["req_a", "req_b"] and rows[0]["team"] == "design"
    assert "design" in ok("usage")
