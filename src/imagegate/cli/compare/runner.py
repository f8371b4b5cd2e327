"""Running a workload's cells against a gateway, concurrently, resumably.

Each cell is one ordinary Images API request with the run's key, so it is authenticated, admitted,
routed, billed and recorded like any traffic. Two things make a run safe to interrupt:

- the run directory records each finished cell at once, and a resumed run skips recorded cells;
- every request carries ``Idempotency-Key: <run>.<cell>.<url|b64>``, so a cell that was in flight when the
  run stopped is answered from the gateway's idempotency store when resumed (while the gateway holds
  it), not generated and paid for again.

Every request also carries ``x-imagegate-tags: compare_run=<run id>``: the ledger rows of the run
are what the report reads back.

Images: the runner asks for ``response_format: "url"`` first, so a gateway with image storage keeps
each image and the console's review grid can show it; the runner downloads a copy for the offline
report (without the key: a presigned storage URL must not get an ``Authorization`` header). A gateway
without storage refuses ``url`` before any provider is called, and the runner asks for base64 from
then on.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

import httpx

from imagegate.cli.compare.gateway_client import GatewayRefused, record_cell, register_run
from imagegate.cli.compare.run_state import CellRecord, CellStatus, RunDirectory
from imagegate.cli.compare.workload import Cell
from imagegate.domain.image_format import extension, sniff_mime

TAG_HEADER = "x-imagegate-tags"
RUN_TAG = "compare_run"
# A request that reaches a slow provider may take minutes; the gateway's own deadline ends it first.
DEFAULT_TIMEOUT_S = 600.0


def classify(status: int, code: str | None) -> CellStatus:
    """How a failed request shows in the grid: blocked (moderation), refused (cannot honour), failed."""
    if code == "moderation_blocked":
        return "blocked"
    if 400 <= status < 500 and status not in (408, 429):
        return "refused"
    return "failed"


def image_extension(data: bytes) -> str:
    """``png``, ``jpg`` or ``webp`` by magic bytes (``bin`` when unknown)."""
    return extension(sniff_mime(data))


class CompareRunner:
    """Runs cells with bounded concurrency and records each one as it finishes."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        run: RunDirectory,
        run_id: str,
        *,
        concurrency: int = 4,
        on_done: Callable[[CellRecord], None] | None = None,
    ) -> None:
        self._client = client
        self._run = run
        self._run_id = run_id
        self._limit = asyncio.Semaphore(concurrency)
        self._on_done = on_done
        self.upload_failures: list[str] = []
        # None: not known yet whether the gateway stores images (the first answer tells).
        self.urls_served: bool | None = None
        self._downloads = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0), follow_redirects=False)

    async def run(self, cells: Sequence[Cell]) -> list[CellRecord]:
        """Run the cells not yet recorded; the records of those run now."""
        await register_run(self._client, self._run.manifest())
        recorded = list(self._run.records())
        for record in recorded:
            # A resumed run re-sends what it has (idempotent): a cell whose upload failed is not lost.
            await record_cell(self._client, self._run_id, record)
        finished = {record.cell_id for record in recorded}
        pending = [cell for cell in cells if cell.id not in finished]
        return list(await asyncio.gather(*(self._guarded(cell) for cell in pending)))

    async def _guarded(self, cell: Cell) -> CellRecord:
        async with self._limit:
            record = await self.run_cell(cell)
            try:
                await record_cell(self._client, self._run_id, record)
            except (GatewayRefused, httpx.HTTPError) as error:
                # Kept locally all the same (the image was paid for); resuming the run uploads it again.
                self.upload_failures.append(f"{record.cell_id}: {error}")
        self._run.append(record)
        if self._on_done is not None:
            self._on_done(record)
        return record

    async def run_cell(self, cell: Cell) -> CellRecord:
        """One cell's request; transport failures become a failed record, never an exception."""
        requested = int(cell.params.get("n", 1))
        headers = {TAG_HEADER: f"{RUN_TAG}={self._run_id}"}
        started = time.monotonic()
        try:
            asked_urls = self.urls_served is not False
            response = await self._send(cell, headers, urls=asked_urls)
            if asked_urls and _refuses_url_format(response):
                self.urls_served = False  # refused before any provider was called: ask again for base64
                started = time.monotonic()
                response = await self._send(cell, headers, urls=False)
        except httpx.HTTPError as error:
            return CellRecord(
                cell_id=cell.id,
                model=cell.model,
                prompt_index=cell.prompt_index,
                repetition=cell.repetition,
                status="failed",
                images_requested=requested,
                error_code="transport_error",
                error_message=f"{type(error).__name__}: {error}",
                latency_ms=int((time.monotonic() - started) * 1000),
            )
        latency_ms = int((time.monotonic() - started) * 1000)
        record = CellRecord(
            cell_id=cell.id,
            model=cell.model,
            prompt_index=cell.prompt_index,
            repetition=cell.repetition,
            status="ok",
            images_requested=requested,
            request_id=response.headers.get("x-request-id"),
            http_status=response.status_code,
            latency_ms=latency_ms,
            served_size=response.headers.get("x-imagegate-size"),
        )
        body = _json_or_none(response)
        if response.status_code != 200:
            answer = body.get("error") if isinstance(body, dict) else None
            detail: dict[str, Any] = answer if isinstance(answer, dict) else {}
            code = detail.get("code") if isinstance(detail.get("code"), str) else None
            record.status = classify(response.status_code, code)
            record.error_code = code if code is not None else f"http_{response.status_code}"
            record.error_message = str(detail.get("message", response.text[:300]))
            return record
        try:
            record.images, record.image_urls = await self._save_images(cell, body)
        except httpx.HTTPError as error:
            record.status = "failed"
            record.error_code = "image_download_failed"
            record.error_message = f"{type(error).__name__}: {error}"
            return record
        if not record.images:
            record.status = "failed"
            record.error_code = "no_image"
            record.error_message = "the response carried no image"
        return record

    async def _send(self, cell: Cell, headers: dict[str, str], *, urls: bool) -> httpx.Response:
        fields: dict[str, Any] = {"model": cell.model, "prompt": cell.prompt, **cell.params}
        if urls:
            fields["response_format"] = "url"
        # One key per cell and answer format: the two requests differ, and a key names one request.
        headers = {**headers, "Idempotency-Key": f"{self._run_id}.{cell.id}.{'url' if urls else 'b64'}"}
        if cell.operation == "generate":
            return await self._client.post("/v1/images/generations", json=fields, headers=headers)
        with ExitStack() as files_open:
            files = [
                ("image[]", (path.name, files_open.enter_context(path.open("rb")), "application/octet-stream"))
                for path in cell.images
            ]
            data = {name: str(value) for name, value in fields.items()}
            return await self._client.post("/v1/images/edits", data=data, files=files, headers=headers)

    async def _save_images(self, cell: Cell, body: Any) -> tuple[list[str], list[str]]:
        """Each image to ``images/``; the stored images' URLs when the gateway gave URLs."""
        items = body.get("data") if isinstance(body, dict) else None
        saved: list[str] = []
        urls: list[str] = []
        for index, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict):
                continue
            if isinstance(item.get("url"), str):
                self.urls_served = True
                download = await self._downloads.get(item["url"])
                download.raise_for_status()
                data = download.content
                urls.append(item["url"])
            elif isinstance(item.get("b64_json"), str):
                data = base64.b64decode(item["b64_json"])
            else:
                continue
            name = f"{cell.id}.{index}.{image_extension(data)}"
            (self._run.images / name).write_bytes(data)
            saved.append(name)
        return saved, urls

    async def aclose(self) -> None:
        """Close the download client."""
        await self._downloads.aclose()


def _refuses_url_format(response: httpx.Response) -> bool:
    """A 400 naming ``response_format``: this gateway does not store images."""
    if response.status_code != 400:
        return False
    body = _json_or_none(response)
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and error.get("param") == "response_format"


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
