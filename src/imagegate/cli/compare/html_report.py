"""The self-contained HTML report of a compare run: the grid (prompts x models) and the summary.

It works offline: images are linked beside it (``images/``) or, with ``embed``, inlined as data
URIs so the one file can be mailed around. Rendered with Jinja2 (autoescaping on: prompts are user
text); no script, no network.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from imagegate.cli.compare.run_state import CellRecord, RunDirectory, RunManifest
from imagegate.service.compare_runs import RequestUsage
from imagegate.service.compare_summary import usd

_MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}


@dataclass(frozen=True, slots=True)
class GridImage:
    """One image in a grid cell: where to load it from, and which request/index it answers."""

    src: str
    request_id: str | None
    index: int
    verdict: bool | None


@dataclass(frozen=True, slots=True)
class GridCell:
    """One (prompt, model) square: every repetition's outcome."""

    records: tuple[CellRecord, ...]
    images: tuple[GridImage, ...]
    cost_usd: str | None


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("imagegate.cli.compare", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def grid(
    manifest: RunManifest,
    records: Sequence[CellRecord],
    usage: Mapping[str, RequestUsage],
    image_src: Any,
) -> list[list[GridCell]]:
    """Rows of prompts, columns of models (the manifest's order)."""
    placed: dict[tuple[int, str], list[CellRecord]] = {}
    for record in records:
        placed.setdefault((record.prompt_index, record.model), []).append(record)
    rows = []
    for prompt_index in range(len(manifest.prompts)):
        row = []
        for model in manifest.models:
            cell_records = sorted(placed.get((prompt_index, model), []), key=lambda record: record.repetition)
            images = []
            cost = 0
            for record in cell_records:
                used = usage.get(record.request_id) if record.request_id is not None else None
                cost += 0 if used is None else used.cost_micros
                for index, name in enumerate(record.images):
                    verdict = None if used is None else used.verdicts.get(index)
                    images.append(GridImage(image_src(name), record.request_id, index, verdict))
            row.append(GridCell(tuple(cell_records), tuple(images), usd(cost) if cell_records else None))
        rows.append(row)
    return rows


def render_report(
    run: RunDirectory,
    summaries: Sequence[Mapping[str, Any]],
    usage: Mapping[str, RequestUsage],
    *,
    embed: bool = False,
) -> str:
    """The report's HTML."""
    manifest = run.manifest()
    records = list(run.records())

    def image_src(name: str) -> str:
        if not embed:
            return f"images/{name}"
        data = (run.images / name).read_bytes()
        media = _MEDIA_TYPES.get(Path(name).suffix.lstrip("."), "application/octet-stream")
        return f"data:{media};base64,{base64.b64encode(data).decode('ascii')}"

    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            manifest=manifest,
            rows=grid(manifest, records, usage, image_src),
            summaries=list(summaries),
            pending=manifest.cells - len(records),
        )
    )
