"""Prometheus multiprocess mode for ``imagegate serve --workers N``.

Each worker is its own process with its own counters; prometheus_client's multiprocess mode has
every worker write its values to files in ``PROMETHEUS_MULTIPROC_DIR`` and a scrape (answered by
whichever worker gets it) sums them all. The variable must be set before the workers start, so
the CLI sets it: to the operator's directory when already set (emptied of the previous run's
files, as the client requires), else to a fresh temporary directory removed on exit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from imagegate.telemetry.metrics import MULTIPROC_ENV, multiprocess_dir


@contextlib.contextmanager
def multiprocess_metrics() -> Iterator[Path]:
    """Set up ``PROMETHEUS_MULTIPROC_DIR`` for the workers started inside the block."""
    configured = multiprocess_dir()
    if configured is not None:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()  # a previous run's counters would be summed into this one's
        yield directory
        return
    directory = Path(tempfile.mkdtemp(prefix="imagegate-metrics-"))
    os.environ[MULTIPROC_ENV] = str(directory)
    try:
        yield directory
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)
