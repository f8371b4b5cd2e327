"""A gateway SIGKILLed mid-job: after a restart every job completes. A job still queued is
submitted to its provider exactly once; the job whose synchronous provider call was cut off has
that attempt in the ledger as ``unknown`` (crash-safe attempt recording) and runs once more."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import yaml

from imagegate.store.ledger import SqlLedgerStore
from tests.jobs.conftest import jobs_config, sandbox_submissions
from tests.jobs.test_jobs_e2e import poll
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.disk_store import serving_disk_store
from tests.support.gateway import GatewayHandle, free_port, wait_for_calls_in_flight


@contextlib.contextmanager
def job_process(
    role: str, env: dict[str, str], config: Path, images: tuple[Path, str]
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``tests.support.job_processes`` as a child process; its URL (serve) and the process."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.job_processes",
            role,
            "--config",
            str(config),
            "--images-root",
            str(images[0]),
            "--images-url",
            images[1],
            "--port",
            str(port),
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        if role == "serve":
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                assert process.poll() is None and time.monotonic() < deadline, "gateway did not start"
                time.sleep(0.05)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(15)


def quick_recovery_env(database_url: object, data_dir: Path, **more: str) -> dict[str, str]:
    """Settings for a gateway process whose dead runs are found and resumed within a second or so."""
    return {
        "IMAGEGATE_DATABASE_URL": str(database_url),
        "IMAGEGATE_DATA_DIR": str(data_dir),
        "IMAGEGATE_LOG_LEVEL": "warning",
        "IMAGEGATE_JOBS_LEASE_S": "1",
        "IMAGEGATE_JOBS_RESUME_INTERVAL_S": "0.2",
        "IMAGEGATE_LEDGER_PENDING_LEASE_S": "1",
        "IMAGEGATE_LEDGER_SWEEP_INTERVAL_S": "0.2",
        **more,
    }


def test_a_sigkill_mid_job_then_a_restart_completes_every_job(sandbox_url, tmp_path):
    engine = migrated_sqlite_engine(tmp_path / "imagegate.db")
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump(jobs_config(sandbox_url)))
    env = quick_recovery_env(engine.url, tmp_path, IMAGEGATE_JOBS_CONCURRENCY="1")
    handle = GatewayHandle(url="", runtime=None, engine=engine)  # type: ignore[arg-type]  # only create_key is used
    secret = handle.create_key("crash")
    headers = {"authorization": f"Bearer {secret}"}
    since = time.time()
    with serving_disk_store(tmp_path / "images") as store:
        images = (store.root, store.base_url)
        with job_process("serve", env, config, images) as (url, process):
            body = {"model": "gpt-image-2", "quality": "low"}
            cut = httpx.post(
                f"{url}/v1/images/jobs", json={**body, "prompt": "[sandbox:slow=1] cut off"}, headers=headers
            ).json()
            queued = httpx.post(f"{url}/v1/images/jobs", json={**body, "prompt": "waiting"}, headers=headers).json()
            wait_for_calls_in_flight(sandbox_url, since, 1, "slow")
            assert httpx.get(f"{url}/v1/images/jobs/{queued['id']}", headers=headers).json()["status"] == "queued"
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        with job_process("serve", env, config, images) as (url, _):
            gateway = GatewayHandle(url=url, runtime=None, engine=engine)  # type: ignore[arg-type]  # poll only reads .url
            finished_cut = poll(gateway, secret, cut["id"])
            finished_queued = poll(gateway, secret, queued["id"])
            assert httpx.get(finished_queued["result"]["data"][0]["url"]).status_code == 200
    assert finished_cut["status"] == finished_queued["status"] == "completed"
    submissions = sandbox_submissions(sandbox_url, since)
    assert len([r for r in submissions if not r["faults"]]) == 1  # the queued job: exactly one submission
    assert len([r for r in submissions if "slow" in str(r["faults"])]) == 2  # the cut-off call, then its rerun
    ledger = SqlLedgerStore(engine)
    deadline = time.monotonic() + 30
    while len([row for row in ledger.query_entries(key_name="crash") if row.status == "unknown"]) < 1:
        assert time.monotonic() < deadline, "the interrupted attempt never reached the ledger"
        time.sleep(0.05)
    rows = ledger.query_entries(key_name="crash")
    assert sorted(row.status for row in rows) == ["ok", "ok", "unknown"]
    [ok_cut] = ledger.query_entries(request_id=finished_cut["request_id"])
    assert ok_cut.cost_micros == finished_cut["cost"]["micros"]
    with engine.connect() as conn:
        runs = dict(conn.exec_driver_sql("SELECT id, runs FROM image_jobs").all())
    assert runs == {cut["id"]: 2, queued["id"]: 1}
    engine.dispose()
