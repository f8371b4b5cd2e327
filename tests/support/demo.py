"""``imagegate demo`` as a user runs it: a real process in a directory of its own, with a HOME of its own."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DEMO_VARIABLES = ("IMAGEGATE_URL", "IMAGEGATE_KEY", "IMAGEGATE_MASTER_KEY")


@dataclass(frozen=True)
class DemoProcess:
    """A running demo: where it runs, the environment a user's shell would have, what it printed."""

    cwd: Path
    env: dict[str, str]
    variables: dict[str, str]
    output: list[str]

    def cli(self, *args: str, columns: int | None = None) -> subprocess.CompletedProcess[str]:
        """``imagegate ARGS`` in the demo's directory, with no flags pointing at it."""
        env = dict(self.env)
        if columns is not None:
            env["COLUMNS"] = str(columns)
        return subprocess.run(
            [sys.executable, "-m", "imagegate.cli", *args],
            cwd=self.cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )


def user_env(home: Path) -> dict[str, str]:
    """This process's environment as a fresh user's: no ``IMAGEGATE_*`` or XDG data dir, HOME at ``home``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("IMAGEGATE_") and name not in ("XDG_DATA_HOME", "COLUMNS")
    }
    env["HOME"] = str(home)
    env["IMAGEGATE_LOG_LEVEL"] = "warning"
    return env


@contextlib.contextmanager
def running_demo(cwd: Path, home: Path) -> Iterator[DemoProcess]:
    """Start ``imagegate demo --port 0`` in ``cwd`` and wait until it has printed its variables."""
    env = user_env(home)
    process = subprocess.Popen(
        [sys.executable, "-m", "imagegate.cli", "demo", "--port", "0"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        output: list[str] = []
        seen: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while len(seen) < len(DEMO_VARIABLES) and time.monotonic() < deadline:
            line = process.stdout.readline()
            if line == "":
                break
            output.append(line)
            match = re.match(rf"^({'|'.join(DEMO_VARIABLES)})=(\S+)", line)
            if match:
                seen[match.group(1)] = match.group(2)
        assert set(seen) == set(DEMO_VARIABLES), f"demo printed: {''.join(output)}"
        # The rest of the banner (Try: line and all) comes before the server starts.
        while not any(line.startswith("Admin API") for line in output) and time.monotonic() < deadline:
            line = process.stdout.readline()
            if line == "":
                break
            output.append(line)
        _wait_healthy(seen["IMAGEGATE_URL"], deadline)
        yield DemoProcess(cwd=cwd, env={**env, **seen}, variables=seen, output=output)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_healthy(url: str, deadline: float) -> None:
    import httpx

    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"demo gateway at {url} never became healthy")
