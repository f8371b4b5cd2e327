"""A gateway SIGKILLed mid-request: its attempt is still in the ledger and its idempotency claim frees itself.

Two real gateway processes (``imagegate serve``) over one SQLite file and one Redis, the sandbox as
the provider. The first is killed while the provider is answering; the second resolves the dead
attempt as ``unknown`` (at the quote, estimated) and serves the client's retry with the same key.
An attempt killed before it was promoted to a pending record (it lived only in the first process's
spool) is recovered the same way by the next process sharing the data directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import yaml

from imagegate.store import SqlLedgerStore, make_engine
from imagegate.store.pending_attempts import SqlPendingAttempts
from tests.store.redis_fixtures import REDIS_URL
from tests.support.gateway import free_port, sandbox_models_config, wait_for_calls_in_flight

EXE = [sys.executable, "-m", "imagegate.cli"]


def _env(workdir: Path, **extra: str) -> dict[str, str]:
    return {
        **extra,
        **os.environ,
        "IMAGEGATE_DATA_DIR": str(workdir),
        "IMAGEGATE_DATABASE_URL": f"sqlite:///{workdir}/imagegate.db",
        "IMAGEGATE_REDIS_URL": REDIS_URL,
        "IMAGEGATE_LOG_LEVEL": "warning",
        "IMAGEGATE_LEDGER_PENDING_LEASE_S": "1",
        "IMAGEGATE_LEDGER_SWEEP_INTERVAL_S": "0.2",
        "IMAGEGATE_IDEMPOTENCY_LEASE_S": "1",
    }


@contextlib.contextmanager
def _gateway(workdir: Path, config: Path, **extra_env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    process = subprocess.Popen(
        [*EXE, "serve", "--config", str(config), "--port", str(port)],
        env=_env(workdir, **extra_env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: _ready(url), "gateway ready", timeout_s=60)  # start-up is slow on a loaded machine
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(10)


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _until(condition, what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_replica_killed_mid_request_leaves_an_unknown_row_and_no_stuck_claim(sandbox_url, tmp_path):
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump(sandbox_models_config(sandbox_url, ["gpt-image-2"])))
    created = subprocess.run(
        [*EXE, "keys", "create", "--name", "crash", "--json"],
        env=_env(tmp_path),
        check=True,
        capture_output=True,
        text=True,
    )
    key = json.loads(created.stdout)["key"]
    headers = {"authorization": f"Bearer {key}", "idempotency-key": uuid.uuid4().hex}
    body = {"model": "gpt-image-2", "prompt": "[sandbox:slow=2] crash me", "quality": "low"}
    engine = make_engine(f"sqlite:///{tmp_path}/imagegate.db")
    pending = SqlPendingAttempts(engine)

    with _gateway(tmp_path, config) as (url, process), httpx.Client(timeout=30) as client:
        with contextlib.suppress(httpx.TimeoutException):
            client.post(url + "/v1/images/generations", json=body, headers=headers, timeout=0.5)
        _until(lambda: len(pending.pending()) == 1, "the pending attempt")
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    [dead] = pending.pending()
    assert SqlLedgerStore(engine).query_entries(request_id=dead.entry.request_id) == []

    with _gateway(tmp_path, config) as (url, _), httpx.Client(timeout=30) as client:
        _until(lambda: len(SqlLedgerStore(engine).query_entries(request_id=dead.entry.request_id)) == 1, "sweep")
        retry = client.post(url + "/v1/images/generations", json=body, headers=headers)
        assert retry.status_code == 200, retry.text
        assert "idempotent-replayed" not in retry.headers
        served = retry.headers["x-request-id"]
        _until(lambda: len(SqlLedgerStore(engine).query_entries(request_id=served)) == 1, "the retry's row")

    [unknown] = SqlLedgerStore(engine).query_entries(request_id=dead.entry.request_id)
    assert (unknown.status, unknown.error_code, unknown.cost_estimated) == ("unknown", "outcome_unknown", True)
    assert unknown.cost_micros > 0 and unknown.key_name == "crash" and unknown.route == dead.entry.route
    [ok] = SqlLedgerStore(engine).query_entries(request_id=served)
    assert ok.status == "ok" and ok.cost_micros <= unknown.cost_micros
    assert pending.pending() == []
    engine.dispose()


def test_an_attempt_killed_before_its_promotion_is_recovered_from_the_spool(sandbox_url, tmp_path):
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump(sandbox_models_config(sandbox_url, ["gpt-image-2"])))
    created = subprocess.run(
        [*EXE, "keys", "create", "--name", "spool", "--json"],
        env=_env(tmp_path),
        check=True,
        capture_output=True,
        text=True,
    )
    # With an Idempotency-Key the call runs on after the client's short timeout (no disconnect row).
    headers = {"authorization": f"Bearer {json.loads(created.stdout)['key']}", "idempotency-key": uuid.uuid4().hex}
    body = {"model": "gpt-image-2", "prompt": "[sandbox:slow=3] kill me early", "quality": "low"}
    engine = make_engine(f"sqlite:///{tmp_path}/imagegate.db")
    ledger = SqlLedgerStore(engine)

    # Promotion far away: the attempt exists only in the spool when the process dies.
    with _gateway(tmp_path, config, IMAGEGATE_LEDGER_PENDING_PROMOTE_S="600") as (url, process):
        since = time.time()
        with httpx.Client(timeout=30) as client, contextlib.suppress(httpx.TimeoutException):
            client.post(url + "/v1/images/generations", json=body, headers=headers, timeout=0.3)
        wait_for_calls_in_flight(sandbox_url, since, 1, "slow")
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    assert SqlPendingAttempts(engine).pending() == []
    assert ledger.query_entries(limit=10) == []
    [spool] = (tmp_path / "spool").glob("*.spool")

    with _gateway(tmp_path, config):
        _until(lambda: len(ledger.query_entries(limit=10)) == 1, "the recovered attempt")
    [row] = ledger.query_entries(limit=10)
    assert (row.status, row.error_code, row.cost_estimated, row.key_name) == (
        "unknown",
        "outcome_unknown",
        True,
        "spool",
    )
    assert row.cost_micros > 0 and not spool.exists()
    engine.dispose()
