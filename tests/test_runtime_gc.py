"""``serve``'s app freezes what start-up allocated out of the collector's view; tests' apps do not."""

from __future__ import annotations

import subprocess
import sys

from imagegate.runtime import GC_YOUNG_THRESHOLD

_SCRIPT = """
import asyncio, gc, os, sys, tempfile
workdir = tempfile.mkdtemp()
os.environ.update({{"IMAGEGATE_DATABASE_URL": f"sqlite:///{{workdir}}/db.sqlite", "IMAGEGATE_DATA_DIR": workdir}})
from imagegate.app import build_runtime
from imagegate.config.file import GatewayConfig
from imagegate.config.settings import Settings
from imagegate.runtime import create_app

async def main():
    app = create_app(build_runtime(Settings(), GatewayConfig()), freeze_startup_heap={freeze})
    before = gc.get_freeze_count()
    async with app.router.lifespan_context(app):
        print(before, gc.get_freeze_count(), gc.get_threshold()[0])

asyncio.run(main())
"""


def _collector_after_start(freeze: bool) -> tuple[int, int, int]:
    """(objects frozen before start-up, frozen once started, first-generation threshold then)."""
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT.format(freeze=freeze)], capture_output=True, text=True, timeout=120, check=True
    )
    before, during, threshold = done.stdout.split()
    return int(before), int(during), int(threshold)


def test_the_servers_app_freezes_its_start_up_heap_once_started():
    before, during, threshold = _collector_after_start(True)
    assert before == 0
    assert during > 10_000  # the modules, catalog and pools: out of every collection's way
    assert threshold == GC_YOUNG_THRESHOLD


def test_an_app_built_without_the_flag_leaves_the_collector_alone():
    assert _collector_after_start(False) == (0, 0, 700)
