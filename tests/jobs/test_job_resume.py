"""A FLUX job (BFL, submit-and-poll) whose gateway is SIGKILLed while the task is pending at the
host: after a restart the job resumes by polling the same task. The sandbox saw one submission,
and the ledger has that one attempt once, at the cost BFL reported (nothing left pending)."""

from __future__ import annotations

import io
import signal
import time
from decimal import Decimal

import httpx
import sqlalchemy as sa
import yaml
from PIL import Image

from imagegate.store.ledger import SqlLedgerStore
from imagegate.store.pending_attempts import SqlPendingAttempts
from imagegate.store.tables import image_jobs
from tests.jobs.conftest import jobs_config
from tests.jobs.test_job_crash import job_process, quick_recovery_env
from tests.jobs.test_jobs_e2e import poll
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.disk_store import serving_disk_store
from tests.support.flux import alias, micros, route, tasks, wait_for
from tests.support.gateway import GatewayHandle


def bfl_submissions(sandbox_url: str, since: float) -> list[dict]:
    """BFL submits (``POST /v1/{model}``) the sandbox received since ``since``."""
    records = httpx.get(sandbox_url + "/_sandbox/requests").json()["requests"]
    return [r for r in records if r["time"] >= since and r["method"] == "POST" and r["path"] == "/v1/flux-2-pro"]


def test_a_flux_job_cut_off_by_sigkill_resumes_by_polling_its_task(sandbox_url, tmp_path):
    engine = migrated_sqlite_engine(tmp_path / "imagegate.db")
    document = jobs_config(sandbox_url)
    # Four "Pending" polls 0.3 s, 0.45 s, ... apart: the task is still running when the gateway dies.
    flux = route("bfl", "flux-2-pro", sandbox_url, timeout=30, poll_interval=0.3)
    document["models"].append(alias("flux-slow-polls", flux))
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump(document))
    env = quick_recovery_env(engine.url, tmp_path)
    handle = GatewayHandle(url="", runtime=None, engine=engine)  # type: ignore[arg-type]  # only create_key is used
    secret = handle.create_key("resume")
    headers = {"authorization": f"Bearer {secret}"}
    since = time.time()

    def kept_task() -> dict | None:
        with engine.connect() as conn:
            return conn.execute(sa.select(image_jobs.c.provider_task)).scalar_one_or_none()

    with serving_disk_store(tmp_path / "images") as store:
        images = (store.root, store.base_url)
        with job_process("serve", env, config, images) as (url, process):
            body = {"model": "flux-slow-polls", "prompt": "[sandbox:polls=4] a lighthouse", "size": "1024x768"}
            job = httpx.post(f"{url}/v1/images/jobs", json=body, headers=headers).json()
            kept = wait_for(kept_task, 20)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        [task] = [t for t in tasks(sandbox_url, "bfl").values() if t["id"] == kept["task"]["id"]]
        assert task["polls"] < 4 and not task["cancelled"]  # killed while the task was pending
        with job_process("serve", env, config, images) as (url, _):
            gateway = GatewayHandle(url=url, runtime=None, engine=engine)  # type: ignore[arg-type]  # poll reads .url
            finished = poll(gateway, secret, job["id"])
            assert finished["status"] == "completed", finished["error"]
            image = httpx.get(finished["result"]["data"][0]["url"])
    assert image.status_code == 200
    with Image.open(io.BytesIO(image.content)) as picture:
        assert (picture.format, picture.size) == ("JPEG", (1024, 768))
    assert len(bfl_submissions(sandbox_url, since)) == 1  # polled again, never submitted again
    assert finished["request_id"] == kept["request_id"]
    ledger = SqlLedgerStore(engine)
    rows = wait_for(lambda: ledger.query_entries(key_name="resume"), 10)
    [row] = rows
    assert (row.request_id, row.attempt, row.status) == (kept["request_id"], kept["attempt"], "ok")
    assert row.provider_request_id == kept["task"]["id"]
    assert row.cost_micros == finished["cost"]["micros"] == micros(Decimal(str(row.usage["cost"])) * Decimal("0.01"))
    assert not row.cost_estimated
    assert SqlPendingAttempts(engine).pending() == []  # the held record went with the row
    with engine.connect() as conn:
        assert conn.execute(sa.select(image_jobs.c.runs)).scalar_one() == 2
    engine.dispose()
