"""The workload file: prompts, the models to compare, per-model presets, repetitions.

YAML (one document) or JSONL (one JSON object per line: a line with ``models`` is the header, every
other line a prompt). docs/compare.md shows both. A workload expands into *cells*, one request each:
prompt x model x repetition. A preset maps one product preset (``square-draft``) to per-model
request parameters, so a prompt names the intent once and each model gets its own sizes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# Request parameters a preset or a prompt may set; anything else is a typo worth an error.
REQUEST_PARAMETERS = frozenset(
    {"size", "quality", "n", "background", "output_format", "output_compression", "moderation", "style"}
)
_CELL_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class WorkloadError(ValueError):
    """The workload file is not valid; the message names the file and the field."""


class PromptSpec(BaseModel):
    """One prompt of the workload."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1)
    preset: str | None = None
    images: list[Path] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    size: str | None = None
    quality: str | None = None

    @field_validator("params")
    @classmethod
    def _known_params(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - REQUEST_PARAMETERS)
        if unknown:
            raise ValueError(f"unknown request parameter(s) {', '.join(unknown)}")
        return value


class WorkloadSpec(BaseModel):
    """The whole file, as written."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    repeat: int = Field(default=1, ge=1, le=100)
    models: list[str] = Field(min_length=1)
    presets: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    prompts: list[PromptSpec] = Field(min_length=1)

    @field_validator("prompts", mode="before")
    @classmethod
    def _plain_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"prompt": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _presets_resolve(self) -> WorkloadSpec:
        for name, per_model in self.presets.items():
            for model, params in per_model.items():
                unknown = sorted(set(params) - REQUEST_PARAMETERS)
                if unknown:
                    raise ValueError(f"preset {name!r}, model {model!r}: unknown parameter(s) {', '.join(unknown)}")
        for index, spec in enumerate(self.prompts):
            if spec.preset is not None and spec.preset not in self.presets:
                raise ValueError(f"prompts[{index}]: preset {spec.preset!r} is not defined under 'presets'")
        if len(set(self.models)) != len(self.models):
            raise ValueError("models: each model may be listed once")
        return self


@dataclass(frozen=True, slots=True)
class Cell:
    """One request of the run: a prompt for a model, one repetition."""

    id: str
    prompt_index: int
    model: str
    repetition: int
    prompt: str
    params: dict[str, Any]
    images: tuple[Path, ...]

    @property
    def operation(self) -> str:
        """``edit`` when the prompt brings reference images, else ``generate``."""
        return "edit" if self.images else "generate"


@dataclass(frozen=True, slots=True)
class Workload:
    """A validated workload and where it came from."""

    spec: WorkloadSpec
    source: Path
    digest: str

    @property
    def name(self) -> str:
        """The workload's name."""
        return self.spec.name

    def cells(self) -> Iterator[Cell]:
        """Every cell, prompt-major (rows of the review grid), models in the file's order."""
        for index, prompt in enumerate(self.spec.prompts):
            for model in self.spec.models:
                params = self._params(prompt, model)
                for repetition in range(1, self.spec.repeat + 1):
                    yield Cell(
                        id=cell_id(index, model, repetition),
                        prompt_index=index,
                        model=model,
                        repetition=repetition,
                        prompt=prompt.prompt,
                        params=params,
                        images=tuple(self._image_path(path) for path in prompt.images),
                    )

    def _params(self, prompt: PromptSpec, model: str) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if prompt.preset is not None:
            params.update(self.spec.presets[prompt.preset].get(model, {}))
        params.update(prompt.params)
        for field in ("size", "quality"):
            value = getattr(prompt, field)
            if value is not None:
                params[field] = value
        return params

    def _image_path(self, path: Path) -> Path:
        return path if path.is_absolute() else self.source.parent / path


def cell_id(prompt_index: int, model: str, repetition: int) -> str:
    """A stable, filename-safe id: ``p003.gpt-image-2.r1``."""
    return f"p{prompt_index:03d}.{_CELL_SAFE.sub('_', model)}.r{repetition}"


def load_workload(path: Path) -> Workload:
    """Read and validate a workload file (``.yaml``/``.yml`` or ``.jsonl``)."""
    try:
        raw_text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise WorkloadError(f"{path}: {error.strerror}") from None
    try:
        data = _parse_jsonl(raw_text) if path.suffix == ".jsonl" else yaml.safe_load(raw_text)
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        raise WorkloadError(f"{path}: not valid {'JSONL' if path.suffix == '.jsonl' else 'YAML'}: {error}") from None
    if not isinstance(data, dict):
        raise WorkloadError(f"{path}: expected a mapping with name, models and prompts")
    try:
        spec = WorkloadSpec.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "workload"
        raise WorkloadError(f"{path}: {where}: {first['msg']}") from None
    workload = Workload(spec=spec, source=path, digest=hashlib.sha256(raw_text.encode("utf-8")).hexdigest())
    for cell in workload.cells():
        for image in cell.images:
            if not image.is_file():
                raise WorkloadError(f"{path}: prompts[{cell.prompt_index}].images: no file {image}")
    return workload


def _parse_jsonl(text: str) -> dict[str, Any]:
    header: dict[str, Any] = {}
    prompts: list[Any] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() == "":
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise json.JSONDecodeError(f"line {number}: {error.msg}", error.doc, error.pos) from None
        if isinstance(item, dict) and "models" in item:
            header.update(item)
        else:
            prompts.append(item)
    return {**header, "prompts": [*header.get("prompts", []), *prompts]}
