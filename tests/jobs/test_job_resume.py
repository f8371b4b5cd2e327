"""FLUX jobs (BFL, submit-and-poll) whose gateway is SIGKILLed while the task is pending at the
host: after a restart each job resumes by polling the same task, never submitting it again.

- A task that finishes: the sandbox saw one submission, and the ledger has that one attempt
  once, at the cost BFL reported (nothing left pending).
- A task that fails: the resumed run carries on the attempt loop the dead run had left (the
  route's remaining retry, then the next route), numbering its attempts on from the task's.
- A fanned-out job (``n`` split into one BFL call per image), one part finished and one pending:
  neither is submitted again; the finished part's task is read again for its image, the pending
  one polled to its end, and each part's attempt is in the ledger once.
"""

from __future__ import annotations

import io
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import yaml
from PIL import Image

from imagegate.store.job_tables import image_jobs
from imagegate.store.ledger import SqlLedgerStore
from imagegate.store.pending_attempts import SqlPendingAttempts
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


@dataclass
class Resumed:
    """What a job killed mid-task and finished by a second gateway left behind."""

    kept: dict[str, Any]  # the task the first gateway kept on the job
    finished: dict[str, Any]  # the job object once finished
    image: httpx.Response | None
    rows: list[Any]  # the ledger rows of the key
    runs: int
    since: float
    at_kill: dict[str, dict[str, Any]]  # the kept tasks as the sandbox saw them at the kill


def kill_while_pending_then_finish(
    sandbox_url: str,
    tmp_path: Path,
    model: dict[str, Any],
    body: dict[str, Any],
    key: str,
    ledger_rows: int,
    killable: Callable[[dict[str, Any]], bool] = lambda kept: True,
) -> Resumed:
    """Submit ``body`` to a gateway serving ``model``, SIGKILL it once what the job keeps of its
    tasks is ``killable``, finish the job with a second gateway and read what was recorded."""
    engine = migrated_sqlite_engine(tmp_path / "imagegate.db")
    document = jobs_config(sandbox_url)
    document["models"].append(model)
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump(document))
    env = quick_recovery_env(engine.url, tmp_path)
    handle = GatewayHandle(url="", runtime=None, engine=engine)  # type: ignore[arg-type]  # only create_key is used
    secret = handle.create_key(key)
    headers = {"authorization": f"Bearer {secret}"}
    since = time.time()

    def kept_task() -> dict | None:
        with engine.connect() as conn:
            kept = conn.execute(sa.select(image_jobs.c.provider_task)).scalar_one_or_none()
        return kept if kept is not None and killable(kept) else None

    with serving_disk_store(tmp_path / "images") as store:
        images = (store.root, store.base_url)
        with job_process("serve", env, config, images) as (url, process):
            job = httpx.post(f"{url}/v1/images/jobs", json=body, headers=headers).json()
            kept = wait_for(kept_task, 20)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        at_kill = {task_id: tasks(sandbox_url, "bfl")[task_id] for task_id in kept_task_ids(kept)}
        assert not any(task["cancelled"] for task in at_kill.values())
        with job_process("serve", env, config, images) as (url, _):
            gateway = GatewayHandle(url=url, runtime=None, engine=engine)  # type: ignore[arg-type]  # poll reads .url
            finished = poll(gateway, secret, job["id"])
            data = (finished.get("result") or {}).get("data") or []
            image = httpx.get(data[0]["url"]) if data else None
    ledger = SqlLedgerStore(engine)
    rows = wait_for(lambda: (found := ledger.query_entries(key_name=key)) and len(found) >= ledger_rows and found, 10)
    assert SqlPendingAttempts(engine).pending() == []  # every held or begun record went with its row
    with engine.connect() as conn:
        runs = conn.execute(sa.select(image_jobs.c.runs)).scalar_one()
    engine.dispose()
    return Resumed(kept=kept, finished=finished, image=image, rows=rows, runs=runs, since=since, at_kill=at_kill)


def kept_task_ids(kept: dict[str, Any]) -> list[str]:
    """The ids of the tasks a job keeps (one, or one per fanned-out part)."""
    parts = kept.get("parts", [kept])
    return [part["task"]["id"] for part in parts if part is not None]


def test_a_flux_job_cut_off_by_sigkill_resumes_by_polling_its_task(sandbox_url, tmp_path):
    # Three "Pending" polls 0.3 s, 0.45 s, ... apart: the task is still running when the gateway dies.
    model = alias("flux-slow-polls", route("bfl", "flux-2-pro", sandbox_url, timeout=30, poll_interval=0.3))
    body = {"model": "flux-slow-polls", "prompt": "[sandbox:polls=3] a lighthouse", "size": "1024x768"}
    resumed = kill_while_pending_then_finish(sandbox_url, tmp_path, model, body, "resume", 1)
    finished, kept = resumed.finished, resumed.kept
    assert resumed.at_kill[kept["task"]["id"]]["polls"] <= 3  # killed while the task was pending
    assert finished["status"] == "completed", finished["error"]
    assert resumed.image is not None and resumed.image.status_code == 200
    with Image.open(io.BytesIO(resumed.image.content)) as picture:
        assert (picture.format, picture.size) == ("JPEG", (1024, 768))
    assert len(bfl_submissions(sandbox_url, resumed.since)) == 1  # polled again, never submitted again
    assert tasks(sandbox_url, "bfl")[kept["task"]["id"]]["polls"] > 3  # pending at the kill, then polled to its end
    assert finished["request_id"] == kept["request_id"]
    [row] = resumed.rows
    assert (row.request_id, row.attempt, row.status) == (kept["request_id"], kept["attempt"], "ok")
    assert row.provider_request_id == kept["task"]["id"]
    assert row.cost_micros == finished["cost"]["micros"] == micros(Decimal(str(row.usage["cost"])) * Decimal("0.01"))
    assert not row.cost_estimated
    assert resumed.runs == 2


def test_a_resumed_task_that_fails_carries_on_with_the_retries_and_fallbacks_the_run_had_left(
    sandbox_url, sandbox_control, tmp_path
):
    # The first two BFL tasks end in BFL's "Error" (retryable, a route fault): the resumed task,
    # then the route's second (last) attempt; the run falls back to fal, which completes it.
    fault = {"fault": "task-error", "model": "flux-2-pro", "path": "/v1/flux-2-pro", "count": 2}
    assert sandbox_control.post("/_sandbox/faults", json=fault).status_code == 201
    model = alias(
        "flux-resume-then-fal",
        route("bfl", "flux-2-pro", sandbox_url, timeout=30, poll_interval=0.3),
        route("fal", "fal-ai/flux-2-pro", sandbox_url),
        attempts=2,
    )
    body = {"model": "flux-resume-then-fal", "prompt": "[sandbox:polls=3] a lighthouse", "size": "1024x768"}
    resumed = kill_while_pending_then_finish(sandbox_url, tmp_path, model, body, "carry-on", 3)
    finished, kept = resumed.finished, resumed.kept
    assert resumed.at_kill[kept["task"]["id"]]["polls"] <= 3  # killed while the task was pending
    assert finished["status"] == "completed", finished["error"]
    assert resumed.image is not None and resumed.image.status_code == 200
    assert finished["request_id"] == kept["request_id"]
    # The kept task was polled, not sent again: one BFL submit before the kill, one retry after it.
    assert len(bfl_submissions(sandbox_url, resumed.since)) == 2
    first, retry, fallback = sorted(resumed.rows, key=lambda row: row.attempt)
    assert {row.request_id for row in resumed.rows} == {kept["request_id"]}
    assert (first.attempt, first.provider, first.status, first.error_code) == (
        1,
        "bfl",
        "error",
        "upstream_unavailable",
    )
    assert first.provider_request_id == kept["task"]["id"]  # the resumed task's own outcome, written once
    assert (retry.attempt, retry.provider, retry.status) == (2, "bfl", "error")
    assert retry.provider_request_id != kept["task"]["id"]
    assert (fallback.attempt, fallback.provider, fallback.status) == (3, "fal", "ok")
    assert finished["cost"]["micros"] == sum(row.cost_micros for row in resumed.rows)
    assert resumed.runs == 2


def test_a_fanned_out_job_resumes_each_part_without_submitting_any_again(sandbox_url, sandbox_control, tmp_path):
    # Two images from a one-image-per-call model: two parts, two BFL tasks. The first submit
    # answers 3 s late (fault ``slow``), so the other part's task is finished by the time the
    # slow part's task is accepted and pending: the gateway is killed then.
    fault = {"fault": "slow=3", "model": "flux-2-pro", "path": "/v1/flux-2-pro", "count": 1}
    assert sandbox_control.post("/_sandbox/faults", json=fault).status_code == 201
    model = alias("flux-parts", route("bfl", "flux-2-pro", sandbox_url, timeout=30, poll_interval=0.3))
    body = {"model": "flux-parts", "prompt": "[sandbox:polls=3] two lighthouses", "size": "1024x768", "n": 2}

    def one_finished_one_pending(kept: dict[str, Any]) -> bool:
        ids = kept_task_ids(kept)
        if len(ids) != 2:
            return False
        seen = tasks(sandbox_url, "bfl")
        return sorted(seen[task_id]["polls"] > 3 for task_id in ids) == [False, True]

    resumed = kill_while_pending_then_finish(
        sandbox_url, tmp_path, model, body, "parts", 2, killable=one_finished_one_pending
    )
    finished, kept = resumed.finished, resumed.kept
    assert finished["status"] == "completed", finished["error"]
    assert len(finished["result"]["data"]) == 2
    assert resumed.image is not None and resumed.image.status_code == 200
    assert len(bfl_submissions(sandbox_url, resumed.since)) == 2  # one per part, none again
    assert finished["request_id"] == kept["request_id"]
    finished_part = next(task for task in resumed.at_kill.values() if task["polls"] > 3)
    assert tasks(sandbox_url, "bfl")[finished_part["id"]]["polls"] > finished_part["polls"]  # read again
    rows = sorted(resumed.rows, key=lambda row: row.attempt)
    assert [(row.attempt, row.status) for row in rows] == [(1, "ok"), (2, "ok")]
    assert sorted(row.provider_request_id for row in rows) == sorted(kept_task_ids(kept))
    assert finished["cost"]["micros"] == sum(row.cost_micros for row in rows)
    assert not finished["cost"]["estimated"]
    assert resumed.runs == 2
