"""``imagegate demo`` as a user runs it: a real process, then the ``openai`` SDK against what it prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from openai import OpenAI


def test_demo_prints_url_and_key_that_work(tmp_path: Path):
    env = {**os.environ, "IMAGEGATE_DATA_DIR": str(tmp_path), "IMAGEGATE_LOG_LEVEL": "warning"}
    env.pop("IMAGEGATE_DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "imagegate.cli", "demo", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        seen: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while len(seen) < 2 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if line == "":
                break
            match = re.match(r"^(IMAGEGATE_URL|IMAGEGATE_KEY)=(\S+)", line)
            if match:
                seen[match.group(1)] = match.group(2)
        assert set(seen) == {"IMAGEGATE_URL", "IMAGEGATE_KEY"}, f"demo printed: {seen}"
        client = OpenAI(base_url=seen["IMAGEGATE_URL"] + "/v1", api_key=seen["IMAGEGATE_KEY"], max_retries=3)
        response = client.images.generate(model="gpt-image-2", prompt="a lighthouse", size="1024x1024", quality="low")
        assert response.usage.output_tokens == 196 and len(response.data) == 1
        from google import genai
        from google.genai import types

        gemini = genai.Client(
            api_key=seen["IMAGEGATE_KEY"], http_options=types.HttpOptions(base_url=seen["IMAGEGATE_URL"])
        )
        answer = gemini.models.generate_content(model="gemini-2.5-flash-image", contents="a lighthouse")
        assert any(part.inline_data is not None for part in answer.candidates[0].content.parts)
        assert (tmp_path / "imagegate.db").exists()
    finally:
        process.terminate()
        process.wait(timeout=30)
