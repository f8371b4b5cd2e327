"""``/api/compare/runs``: where ``imagegate compare`` registers runs and cells, and reads them back.

- ``POST /api/compare/runs`` ``{run_id, name, prompts, models, cells}`` registers a run (again: no-op);
- ``PUT /api/compare/runs/{run_id}/cells/{cell_id}`` records one finished cell;
- ``GET /api/compare/runs`` lists the key's runs; ``GET /api/compare/runs/{run_id}`` gives the run,
  its cells, each request's ledger usage and verdicts, and the per-model summary.

Authenticated with the imagegate key that runs the comparison (admin roles see every run). Errors
in the house (OpenAI) shape. docs/compare.md describes the loop.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagegate.api.http import bearer_token, new_request_id, read_body
from imagegate.api.openai.errors import error_response
from imagegate.domain.errors import ImagegateError, InvalidRequest
from imagegate.service.compare_runs import (
    MAX_PROMPT_DISPLAY_CHARS,
    CellStatus,
    CompareCell,
    CompareRun,
    RequestUsage,
)
from imagegate.service.compare_summary import summarise

MAX_BODY_BYTES = 60 * 1024


class RunBody(BaseModel):
    """A run's registration."""

    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(min_length=5, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    prompts: list[str] = Field(min_length=1)
    models: list[str] = Field(min_length=1)
    cells: int = Field(gt=0)


class CellBody(BaseModel):
    """One finished cell."""

    model_config = ConfigDict(extra="forbid")

    prompt_index: int = Field(ge=0)
    model: str = Field(min_length=1, max_length=200)
    repetition: int = Field(ge=1)
    status: CellStatus
    images_requested: int = Field(ge=0)
    images: int = Field(default=0, ge=0)
    request_id: str | None = Field(default=None, max_length=200)
    latency_ms: int | None = Field(default=None, ge=0)
    error_code: str | None = Field(default=None, max_length=200)
    error_message: str | None = Field(default=None, max_length=2000)
    image_urls: list[str] = Field(default_factory=list, max_length=16)


async def _json(request: Request, model: type[BaseModel]) -> Any:
    raw = await read_body(request, MAX_BODY_BYTES)
    try:
        return model.model_validate(orjson.loads(raw))
    except orjson.JSONDecodeError:
        raise InvalidRequest("The body must be a JSON object.") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        param = ".".join(str(part) for part in error["loc"]) or None
        raise InvalidRequest(f"{param}: {error['msg']}" if param else error["msg"], param=param) from None


def _answer(payload: Any, request_id: str, status: int = 200) -> Response:
    return Response(
        orjson.dumps(payload), status_code=status, media_type="application/json", headers={"x-request-id": request_id}
    )


def run_json(run: CompareRun) -> dict[str, Any]:
    """A run as the API shows it."""
    return {
        "object": "compare.run",
        "run_id": run.run_id,
        "name": run.name,
        "key_name": run.key_name,
        "created_at": run.created_at.isoformat(),
        "prompts": list(run.prompts),
        "models": list(run.models),
        "cells": run.cells,
    }


def usage_json(usage: RequestUsage) -> dict[str, Any]:
    """One request's ledger usage as the API shows it."""
    return {
        "request_id": usage.request_id,
        "cost_micros": usage.cost_micros,
        "estimated_micros": usage.estimated_micros,
        "attempts": usage.attempts,
        "failed_attempts": usage.failed_attempts,
        "images": usage.images,
        "feedback": {str(index): accepted for index, accepted in usage.verdicts.items()},
    }


async def register_run(request: Request) -> Response:
    """``POST /api/compare/runs``."""
    request_id = new_request_id()
    state = request.app.state
    try:
        principal = await state.gateway.authenticate(bearer_token(request))
        body: RunBody = await _json(request, RunBody)
        run = CompareRun(
            run_id=body.run_id,
            name=body.name,
            key_id=principal.key_id,
            key_name=principal.key_name,
            created_at=datetime.now(UTC),
            prompts=tuple(prompt[:MAX_PROMPT_DISPLAY_CHARS] for prompt in body.prompts),
            models=tuple(body.models),
            cells=body.cells,
        )
        stored = await anyio.to_thread.run_sync(state.compare_runs.register, principal, run)
    except ImagegateError as error:
        return error_response(error, request_id)
    return _answer(run_json(stored), request_id, status=201)


async def record_cell(request: Request) -> Response:
    """``PUT /api/compare/runs/{run_id}/cells/{cell_id}``."""
    request_id = new_request_id()
    state = request.app.state
    try:
        principal = await state.gateway.authenticate(bearer_token(request))
        body: CellBody = await _json(request, CellBody)
        cell = CompareCell(
            cell_id=request.path_params["cell_id"],
            image_urls=tuple(body.image_urls),
            **body.model_dump(exclude={"image_urls"}),
        )
        await anyio.to_thread.run_sync(state.compare_runs.record_cell, principal, request.path_params["run_id"], cell)
    except ImagegateError as error:
        return error_response(error, request_id)
    return _answer({"object": "compare.cell", "cell_id": cell.cell_id, "status": cell.status}, request_id)


async def list_runs(request: Request) -> Response:
    """``GET /api/compare/runs``."""
    request_id = new_request_id()
    state = request.app.state
    try:
        principal = await state.gateway.authenticate(bearer_token(request))
        runs = await anyio.to_thread.run_sync(state.compare_runs.visible_runs, principal)
    except ImagegateError as error:
        return error_response(error, request_id)
    return _answer({"object": "list", "data": [run_json(run) for run in runs]}, request_id)


async def get_run(request: Request) -> Response:
    """``GET /api/compare/runs/{run_id}``: run, cells, ledger usage and the summary."""
    request_id = new_request_id()
    state = request.app.state
    try:
        principal = await state.gateway.authenticate(bearer_token(request))
        run, cells, usage = await anyio.to_thread.run_sync(
            state.compare_runs.detail, principal, request.path_params["run_id"]
        )
    except ImagegateError as error:
        return error_response(error, request_id)
    payload = {
        **run_json(run),
        "cell_records": [asdict(cell) for cell in cells],
        "usage": [usage_json(item) for item in usage.values()],
        "summary": [summary.as_dict() for summary in summarise(run.models, cells, usage)],
    }
    return _answer(payload, request_id)


routes = [
    Route("/api/compare/runs", register_run, methods=["POST"]),
    Route("/api/compare/runs", list_runs, methods=["GET"]),
    Route("/api/compare/runs/{run_id}", get_run, methods=["GET"]),
    Route("/api/compare/runs/{run_id}/cells/{cell_id}", record_cell, methods=["PUT"]),
]
