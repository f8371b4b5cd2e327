"""``imagegate keys`` and ``imagegate usage`` on a real SQLite database (in-process CLI runner)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imagegate.accounting.keys import hash_key
from imagegate.accounting.ports import LedgerEntry
from imagegate.cli.common import parse_since
from imagegate.cli.main import app
from imagegate.store.database import make_engine
from imagegate.store.keys import SqlKeyStore
from imagegate.store.ledger import SqlLedgerStore

runner = CliRunner()


@pytest.fixture
def db_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("IMAGEGATE_DATABASE_URL", url)
    return url


def run(*args: str):
    result = runner.invoke(app, list(args))
    return result


def test_keys_create_shows_the_key_once_and_stores_only_its_hash(db_env):
    result = run("keys", "create", "--name", "team-a", "--models", "gpt-image-2,gpt-image-1.5", "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["key"].startswith("ig-") and created["models"] == ["gpt-image-2", "gpt-image-1.5"]
    engine = make_engine(db_env)
    record = SqlKeyStore(engine).key_by_hash(hash_key(created["key"]))
    assert record is not None and record.name == "team-a"
    with engine.connect() as conn:
        dump = "\n".join(str(row) for row in conn.exec_driver_sql("select * from api_keys"))
    assert created["key"] not in dump
    listing = json.loads(run("keys", "list", "--json").stdout)
    assert [(row["name"], row["prefix"]) for row in listing] == [("team-a", created["key"][:10])]
    assert created["key"] not in run("keys", "list").stdout


def test_duplicate_name_and_revoke(db_env):
    assert run("keys", "create", "--name", "dup").exit_code == 0
    duplicate = run("keys", "create", "--name", "dup")
    assert duplicate.exit_code == 2 and "already exists" in duplicate.output
    assert run("keys", "revoke", "dup").exit_code == 0
    again = run("keys", "revoke", "dup")
    assert again.exit_code == 2 and "no active key" in again.output
    assert json.loads(run("keys", "list", "--json").stdout)[0]["revoked_at"] is not None


def _entry(request_id: str, model: str, key_name: str, minutes_ago: int, cost: int) -> LedgerEntry:
    return LedgerEntry(
        request_id=request_id,
        attempt=1,
        model=model,
        provider="openai",
        provider_model=model,
        route=f"{model}/openai/{model}",
        operation="generate",
        dialect="openai-images",
        status="ok",
        created_at=datetime.now(UTC) - timedelta(minutes=minutes_ago),
        key_name=key_name,
        images=1,
        usage={"output_tokens": 196},
        cost_micros=cost,
        latency_ms=12,
        provider_request_id="req_up",
    )


def test_usage_json_rows_newest_first_with_filters(db_env):
    run("keys", "list")  # migrates the database
    SqlLedgerStore(make_engine(db_env)).append_entries(
        [
            _entry("req_old", "gpt-image-2", "a", 120, 5880),
            _entry("req_new", "gpt-image-1.5", "b", 1, 33_800),
        ]
    )
    rows = json.loads(run("usage", "--json").stdout)
    assert [row["request_id"] for row in rows] == ["req_new", "req_old"]
    required = {
        "request_id",
        "key_name",
        "model",
        "provider",
        "provider_model",
        "status",
        "error_code",
        "images",
        "usage",
        "cost_usd",
        "latency_ms",
        "attempt",
        "created_at",
    }
    assert required <= set(rows[0])
    assert rows[0]["cost_usd"] == "0.033800" and rows[0]["usage"] == {"output_tokens": 196}
    assert [r["request_id"] for r in json.loads(run("usage", "--json", "--since", "1h").stdout)] == ["req_new"]
    assert [r["request_id"] for r in json.loads(run("usage", "--json", "--key", "a").stdout)] == ["req_old"]
    assert [r["request_id"] for r in json.loads(run("usage", "--json", "--model", "gpt-image-1.5").stdout)] == [
        "req_new"
    ]
    assert "req_new" in run("usage").stdout


def test_parse_since_accepts_spans_and_iso_times():
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert parse_since("30m", now) == now - timedelta(minutes=30)
    assert parse_since("2d", now) == now - timedelta(days=2)
    assert parse_since("2026-11-20T08:00", now) == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    assert parse_since(None, now) is None
