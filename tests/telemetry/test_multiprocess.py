"""The CLI's multiprocess directory: its own temporary one by default, the operator's emptied of stale files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imagegate.telemetry.multiprocess import multiprocess_metrics


def test_a_temporary_directory_is_set_for_the_workers_and_removed_after(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with multiprocess_metrics() as directory:
        assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(directory) and directory.is_dir()
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ and not directory.exists()


def test_the_operators_directory_is_kept_but_emptied_of_counter_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    (tmp_path / "counter_41.db").write_bytes(b"stale")
    (tmp_path / "notes.txt").write_text("not ours")
    with multiprocess_metrics() as directory:
        assert directory == tmp_path and not (tmp_path / "counter_41.db").exists()
    assert (tmp_path / "notes.txt").exists() and os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path)
