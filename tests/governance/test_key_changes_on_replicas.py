"""Rotation and revocation reach every replica within the auth cache TTL: two ``imagegate serve``
processes over one PostgreSQL database, the change made through one, checked on the other."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from tests.store.fixtures import require_postgres, throwaway_pg_database
from tests.support.serve_processes import serve_processes

MASTER = "mk-replicas-77"
TTL_S = 0.5  # IMAGEGATE_AUTH_CACHE_TTL_S: the documented bound for a key change to reach a replica


def status(url: str, secret: str) -> int:
    return httpx.get(url + "/v1/models", headers={"authorization": f"Bearer {secret}"}).status_code


@pytest.mark.postgres
def test_rotation_and_revocation_reach_the_other_replica_within_the_cache_ttl(sandbox_url, tmp_path):
    config = tmp_path / "imagegate.yaml"
    config.write_text(
        "models:\n  - name: gpt-image-2\n    routes:\n      - provider: openai\n        model: gpt-image-2\n"
        f"        base_url: {sandbox_url}/v1\n        api_key: sk-sandbox\n"
    )
    with throwaway_pg_database(require_postgres()) as db_url:
        env = {
            **os.environ,
            "IMAGEGATE_DATA_DIR": str(tmp_path),
            "IMAGEGATE_DATABASE_URL": db_url.render_as_string(hide_password=False),
            "IMAGEGATE_MASTER_KEY": MASTER,
            "IMAGEGATE_AUTH_CACHE_TTL_S": str(TTL_S),
            "IMAGEGATE_LOG_LEVEL": "warning",
        }
        with serve_processes([env, env], config, tmp_path) as (first, second):
            admin = {"authorization": f"Bearer {MASTER}"}
            old = httpx.post(first + "/admin/keys", headers=admin, json={"name": "svc"}).json()["key"]
            assert status(first, old) == status(second, old) == 200  # both replicas now cache the key

            rotated = httpx.post(first + "/admin/keys/svc/rotate", headers=admin, json={"grace": "1h"}).json()["key"]
            assert status(second, rotated) == 200  # a new secret is looked up, never cached as unknown
            time.sleep(TTL_S * 1.2)
            assert status(second, old) == 200  # in its grace period

            newest = httpx.post(first + "/admin/keys/svc/rotate", headers=admin, json={}).json()["key"]
            assert status(second, newest) == 200
            time.sleep(TTL_S * 1.2)
            assert (status(second, old), status(second, rotated)) == (401, 401)  # no grace: gone everywhere

            assert httpx.delete(first + "/admin/keys/svc", headers=admin).status_code == 200
            time.sleep(TTL_S * 1.2)
            assert status(second, newest) == status(first, newest) == 401
