"""``imagegate storage sweep`` on a local store in a temporary data directory."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imagegate.cli.main import app

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IMAGEGATE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("IMAGEGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.delenv("IMAGEGATE_REDIS_URL", raising=False)
    monkeypatch.delenv("IMAGEGATE_CONFIG", raising=False)
    return tmp_path


def _image(root: Path, key: str, retain_until: float) -> Path:
    path = root / "images" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n")
    os.utime(path, (time.time(), retain_until))  # the local store's record of the retention's end
    return path


def test_sweep_deletes_what_is_past_retention(data_dir: Path):
    expired = _image(data_dir, "images/req_a/0.png", time.time() - 60)
    live = _image(data_dir, "images/req_b/0.png", time.time() + 3600)
    result = runner.invoke(app, ["storage", "sweep", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"deleted": 1, "skipped": False}
    assert not expired.exists() and live.exists()


def test_sweep_explains_when_storage_is_off_or_incomplete(data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("IMAGEGATE_STORAGE", "none")
    off = runner.invoke(app, ["storage", "sweep"])
    assert off.exit_code == 2 and "IMAGEGATE_STORAGE=none" in off.output
    monkeypatch.setenv("IMAGEGATE_STORAGE", "s3")
    incomplete = runner.invoke(app, ["storage", "sweep"])
    assert incomplete.exit_code == 2 and "IMAGEGATE_S3_BUCKET" in incomplete.output
