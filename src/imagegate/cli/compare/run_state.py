"""A compare run on disk: its manifest, one record per finished cell (append-only), and its images.

``RUN_DIR/run.json`` says what ran where (never the key: only its visible prefix);
``RUN_DIR/cells.jsonl`` gets one line per finished cell, flushed as it finishes, so an interrupted
run resumes by skipping the cells already recorded (they are never paid for twice); images go to
``RUN_DIR/images/`` (the report embeds or links them; they never enter the gateway's database).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

CellStatus = Literal["ok", "failed", "refused", "blocked"]
KEY_PREFIX_CHARS = 10


class RunNotFound(LookupError):
    """No run with that id (or path) exists."""


@dataclass(slots=True)
class CellRecord:
    """What one cell's request did, as the client saw it; costs come from the ledger, not from here."""

    cell_id: str
    model: str
    prompt_index: int
    repetition: int
    status: CellStatus
    images_requested: int
    request_id: str | None = None
    http_status: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    latency_ms: int | None = None
    images: list[str] = field(default_factory=list)
    image_urls: list[str] = field(default_factory=list)
    served_size: str | None = None
    finished_at: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CellRecord:
        """Read one line of ``cells.jsonl``."""
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)


@dataclass(frozen=True, slots=True)
class RunManifest:
    """``run.json``: the run's identity and where it ran."""

    run_id: str
    workload_name: str
    workload_file: str
    workload_digest: str
    url: str
    key_prefix: str
    created_at: str
    cells: int
    prompts: list[str]
    models: list[str]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunManifest:
        """Read ``run.json``."""
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


def new_run_id() -> str:
    """``cmp_`` and 12 hex digits: unique enough to tag ledger rows by."""
    return "cmp_" + secrets.token_hex(6)


class RunDirectory:
    """One run's folder under the runs directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.images = path / "images"

    @classmethod
    def create(cls, root: Path, manifest: RunManifest) -> RunDirectory:
        """Make ``root/RUN_ID`` and write its manifest."""
        run = cls(root / manifest.run_id)
        run.images.mkdir(parents=True, exist_ok=False)
        (run.path / "run.json").write_text(json.dumps(asdict(manifest), indent=1) + "\n", encoding="utf-8")
        return run

    @classmethod
    def open(cls, root: Path, run: str) -> RunDirectory:
        """An existing run, by id under ``root`` or by its own path."""
        for candidate in (Path(run), root / run):
            if (candidate / "run.json").is_file():
                return cls(candidate)
        raise RunNotFound(f"no compare run {run!r} under {root} (or at that path)")

    def manifest(self) -> RunManifest:
        """The run's ``run.json``."""
        return RunManifest.from_json(json.loads((self.path / "run.json").read_text(encoding="utf-8")))

    def records(self) -> Iterator[CellRecord]:
        """Every finished cell; a torn last line (the process died mid-write) is ignored."""
        path = self.path / "cells.jsonl"
        if not path.is_file():
            return
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    yield CellRecord.from_json(json.loads(line))
                except (json.JSONDecodeError, TypeError):
                    continue

    def finished(self) -> set[str]:
        """Ids of the cells already recorded."""
        return {record.cell_id for record in self.records()}

    def append(self, record: CellRecord) -> None:
        """Record a finished cell durably (one line, flushed and synced)."""
        record.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
        line = json.dumps(asdict(record), separators=(",", ":")) + "\n"
        with (self.path / "cells.jsonl").open("a", encoding="utf-8") as out:
            out.write(line)
            out.flush()
            os.fsync(out.fileno())


def key_prefix(key: str) -> str:
    """The visible part of a key, safe to write down."""
    return key[:KEY_PREFIX_CHARS]
