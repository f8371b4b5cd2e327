"""``usage export``: every ledger row, filtered, as CSV or JSON Lines, in constant memory."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from imagegate.accounting.ledger_scan import LedgerFilter
from imagegate.accounting.ports import LedgerEntry
from imagegate.cli.main import app
from imagegate.service.usage_export import CSV_COLUMNS, export_chunks, ledger_row
from imagegate.store.ledger import SqlLedgerStore
from tests.governance.rows import ledger_row as make_row

START = datetime(2026, 11, 1, tzinfo=UTC)


def entry(i: int, *, team: str | None = "design", key: str = "web", minutes: int | None = None) -> LedgerEntry:
    return make_row(
        f"req_{i:08d}",
        START + timedelta(minutes=i if minutes is None else minutes),
        key_name=key,
        team=team,
        tags={"env": "prod"},
        usage={"input_tokens": 20, "output_tokens": 196, "output_tokens_details": {"image_tokens": 196}},
        cost_micros=53_280 + i,
        latency_ms=812,
        provider_request_id=f"req_upstream_{i:012d}",
    )


def fill(store: SqlLedgerStore, count: int) -> None:
    batch = 5000
    for start in range(0, count, batch):
        store.append_entries([entry(i) for i in range(start, min(count, start + batch))])


def test_a_large_ledger_exports_in_flat_memory(fresh_engine):
    rows = 10_000
    store = SqlLedgerStore(fresh_engine)
    fill(store, rows)
    tracemalloc.start()
    try:
        total = lines = 0
        for chunk in export_chunks(store, LedgerFilter(), "jsonl"):
            total += len(chunk)
            lines += chunk.count(b"\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == rows
    # Holding every row (as entries or as output) would take well over the whole output size.
    assert total > 5_000_000
    assert peak < 2_500_000, f"peak {peak} bytes while exporting {total} bytes"


def test_filters_and_csv_shape(fresh_engine):
    store = SqlLedgerStore(fresh_engine)
    store.append_entries(
        [entry(0), entry(1, team="ads", key="batch"), entry(2, team=None, key="batch"), entry(3), entry(60)]
    )
    where = LedgerFilter(since=START + timedelta(minutes=1), until=START + timedelta(minutes=60))
    text = b"".join(export_chunks(store, where, "csv", rows_per_chunk=2)).decode()
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [row["request_id"] for row in parsed] == ["req_00000001", "req_00000002", "req_00000003"]
    assert tuple(parsed[0]) == CSV_COLUMNS == tuple(ledger_row(entry(0)))
    assert parsed[0]["team"] == "ads" and parsed[1]["team"] == "" and parsed[0]["cost_usd"] == "0.053281"
    assert json.loads(parsed[0]["usage"])["output_tokens"] == 196 and json.loads(parsed[0]["tags"]) == {"env": "prod"}
    assert parsed[0]["stream"] == "false"
    by_team = b"".join(export_chunks(store, LedgerFilter(team="design"), "jsonl")).splitlines()
    assert [json.loads(line)["request_id"] for line in by_team] == ["req_00000000", "req_00000003", "req_00000060"]
    by_key = b"".join(export_chunks(store, LedgerFilter(key_name="batch"), "jsonl")).splitlines()
    assert len(by_key) == 2
    empty = b"".join(export_chunks(store, LedgerFilter(team="nobody"), "csv")).decode()
    assert empty.strip() == ",".join(CSV_COLUMNS)


def test_closing_early_releases_the_cursor(fresh_engine):
    store = SqlLedgerStore(fresh_engine)
    fill(store, 3000)
    chunks = export_chunks(store, LedgerFilter(), "jsonl", rows_per_chunk=100)
    assert next(chunks).count(b"\n") == 100
    chunks.close()
    # The connection went back to the pool: every pooled connection is checked in again.
    assert fresh_engine.pool.checkedout() == 0


def test_cli_export_to_a_file(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("IMAGEGATE_DATABASE_URL", url)
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    from imagegate.store.database import make_engine

    engine = make_engine(url)
    SqlLedgerStore(engine).append_entries([entry(0), entry(1, team="ads"), entry(2)])
    engine.dispose()
    out = tmp_path / "usage.csv"
    result = runner.invoke(
        app, ["usage", "export", "--format", "csv", "--team", "design", "--since", "2026-11-01", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert [row["request_id"] for row in csv.DictReader(out.open())] == ["req_00000000", "req_00000002"]
    jsonl = runner.invoke(app, ["usage", "export", "--key", "web", "--until", "2026-11-01T00:01:00Z"])
    assert jsonl.exit_code == 0 and [json.loads(line)["request_id"] for line in jsonl.stdout.splitlines()] == [
        "req_00000000"
    ]
    bad = runner.invoke(app, ["usage", "export", "--format", "xml"])
    assert bad.exit_code == 2 and "--format" in bad.output
    listing = runner.invoke(app, ["usage", "--json"])
    assert listing.exit_code == 0 and len(json.loads(listing.stdout)) == 3
