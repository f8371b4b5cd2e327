"""The README's examples, run verbatim against a real ``imagegate demo`` (so the README cannot drift).

Every ```python block runs as its own script in the demo's directory, with the variables the
README tells users to ``source`` from ``.imagegate/demo.env``; every ``curl`` command in a shell
block runs the same way. A block that raises, or a command that fails, fails the test.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.demo import DemoProcess, running_demo

README = Path(__file__).resolve().parents[2] / "README.md"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    """The README's fenced blocks in ``language``."""
    return [body for tag, body in FENCE.findall(README.read_text(encoding="utf-8")) if tag == language]


def curl_commands() -> list[str]:
    """Each ``curl`` command of the README's shell blocks (backslash continuations joined)."""
    commands = []
    for body in blocks("sh") + blocks("bash"):
        for line in body.replace("\\\n", " ").splitlines():
            command = line.split(" #")[0].strip()
            if command.startswith("curl "):
                commands.append(command)
    return commands


def imagegate_commands() -> list[str]:
    """The ``imagegate compare`` commands of the README's shell blocks, in order (they build on each other)."""
    commands = []
    for body in blocks("sh") + blocks("bash"):
        for line in body.replace("\\\n", " ").splitlines():
            command = line.split(" #")[0].strip()
            if command.startswith("imagegate compare "):
                commands.append(command)
    return commands


def named_files() -> dict[str, str]:
    """Blocks whose fence names a file (```yaml workload.yaml): written into the demo's directory."""
    named = re.compile(r"^```\w+ +([\w.-]+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
    return dict(named.findall(README.read_text(encoding="utf-8")))


PYTHON_BLOCKS = blocks("python")
CURL_COMMANDS = curl_commands()
IMAGEGATE_COMMANDS = imagegate_commands()
# Shell blocks driving ``imagegate batch`` run whole (their lines share the batch id).
BATCH_BLOCKS = [body for body in blocks("sh") if "imagegate batch " in body]


def test_the_extractor_finds_the_readmes_examples():
    assert len(PYTHON_BLOCKS) >= 2
    assert any("from openai import OpenAI" in block for block in PYTHON_BLOCKS)
    assert any("from google import genai" in block for block in PYTHON_BLOCKS)
    assert any("/admin/keys" in command for command in CURL_COMMANDS)
    assert len(BATCH_BLOCKS) == 1
    assert blocks("nonexistent-language") == []


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProcess]:
    root = tmp_path_factory.mktemp("readme")
    (root / "checkout").mkdir()
    (root / "home").mkdir()
    with running_demo(root / "checkout", root / "home") as process:
        yield process


def _shell_env(demo: DemoProcess) -> dict[str, str]:
    """What ``source .imagegate/demo.env`` gives a user's shell."""
    env = dict(demo.env)
    for line in (demo.cwd / ".imagegate" / "demo.env").read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value
    return env


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_readme_python_block_runs_against_the_demo(demo: DemoProcess, index: int):
    script = demo.cwd / f"readme_block_{index}.py"
    script.write_text(PYTHON_BLOCKS[index], encoding="utf-8")
    ran = subprocess.run(
        [sys.executable, str(script)], cwd=demo.cwd, env=_shell_env(demo), capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, f"README python block {index} failed:\n{PYTHON_BLOCKS[index]}\n{ran.stderr}"


@pytest.mark.parametrize("command", CURL_COMMANDS)
def test_readme_curl_command_runs_against_the_demo(demo: DemoProcess, command: str):
    ran = subprocess.run(
        ["sh", "-c", command.replace("curl ", "curl --fail-with-body -sS ", 1)],
        cwd=demo.cwd,
        env=_shell_env(demo),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, f"{shlex.quote(command)} failed:\n{ran.stdout}\n{ran.stderr}"


def test_readme_compare_commands_run_against_the_demo(demo: DemoProcess):
    assert IMAGEGATE_COMMANDS, "the README shows imagegate compare"
    for name, body in named_files().items():
        (demo.cwd / name).write_text(body, encoding="utf-8")
    for command in IMAGEGATE_COMMANDS:
        ran = subprocess.run(
            ["sh", "-c", command],
            cwd=demo.cwd,
            env={**_shell_env(demo), "PATH": f"{Path(sys.executable).parent}:{_shell_env(demo).get('PATH', '')}"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ran.returncode == 0, f"{shlex.quote(command)} failed:\n{ran.stdout}\n{ran.stderr}"


def test_readme_batch_block_runs_against_the_demo(demo: DemoProcess):
    # The README runs the checkout's ``.venv/bin/imagegate``; here, the one installed beside this Python.
    script = BATCH_BLOCKS[0].replace(".venv/bin/imagegate", str(Path(sys.executable).parent / "imagegate"))
    ran = subprocess.run(
        ["sh", "-e", "-c", script], cwd=demo.cwd, env=_shell_env(demo), capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, f"README batch block failed:\n{ran.stdout}\n{ran.stderr}"
    results = (demo.cwd / "results" / "results.jsonl").read_text().splitlines()
    assert [line.count('"status": "ok"') for line in results] == [1, 1]
