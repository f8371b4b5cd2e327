"""Compute something once per test session, even when pytest-xdist runs several workers.

The first worker to take the lock computes the value and leaves it as JSON beside pytest's base
temporary directory (shared by the workers of one session); the others wait for the lock and read
it. Without xdist this is simply the computation. Used where a fixture is costly on shared cores.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from typing import Any

import pytest


def once_per_session(tmp_path_factory: pytest.TempPathFactory, name: str, compute: Callable[[], Any]) -> Any:
    """``compute()`` run by one worker of this session; every worker gets the same JSON-decoded value."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        # Alone, the base temp's parent is shared with other sessions: compute, never read an old result.
        return json.loads(json.dumps(compute()))
    shared = tmp_path_factory.getbasetemp().parent  # under xdist: one directory per session, for its workers
    result = shared / f"{name}.json"
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not result.exists():
                value = compute()
                result.write_text(json.dumps(value))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return json.loads(result.read_text())
