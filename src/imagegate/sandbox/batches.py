"""What the sandbox's OpenAI and Gemini batch endpoints share: the batch book and the line runner.

A sandbox batch completes on its ``SandboxConfig.batch_polls``-th read (the submit counts as
none); its lines then run as ordinary requests against the sandbox itself (the same app, over
ASGI), so validation, rendering, usage and the ``[sandbox:...]`` prompt directives behave exactly
as for a single call: a line whose prompt holds ``[sandbox:moderation]`` fails alone. A batch with
``[sandbox:batch-expire]`` in any line expires instead (none of its lines run); a batch cancelled
before it completes runs none either. Documented in docs/sandbox.md.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Literal

import httpx
from starlette.types import ASGIApp

EXPIRE_DIRECTIVE = b"[sandbox:batch-expire]"

SandboxBatchState = Literal["running", "cancelling", "completed", "expired", "cancelled"]


@dataclass(frozen=True, slots=True)
class SubRequest:
    """One line of a batch, as the single request it stands for."""

    key: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class SubAnswer:
    """A line's answer: the HTTP status, request id and JSON body the single request got."""

    status: int
    request_id: str
    body: bytes


@dataclass(slots=True)
class SandboxBatch:
    """A batch in the book: its lines, reads left before it completes, and (once run) the answers."""

    id: str
    lines: list[SubRequest]
    reads_left: int
    created_at: int = field(default_factory=lambda: int(time.time()))
    state: SandboxBatchState = "running"
    answers: dict[str, SubAnswer] = field(default_factory=dict)
    finished_at: int | None = None
    # Free-form per-provider facts (OpenAI's endpoint and file ids, Gemini's model and name).
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def expires(self) -> bool:
        """Whether a line asked the batch to expire instead of completing."""
        return any(EXPIRE_DIRECTIVE in line.body for line in self.lines)


@dataclass(slots=True)
class BatchBook:
    """Every batch and uploaded batch file of one sandbox app (on ``SandboxState``)."""

    batches: dict[str, SandboxBatch] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    def add(self, prefix: str, lines: list[SubRequest], reads: int) -> SandboxBatch:
        """A new running batch completing on its ``reads``-th read."""
        batch = SandboxBatch(id=prefix + secrets.token_hex(12), lines=lines, reads_left=max(1, reads))
        self.batches[batch.id] = batch
        return batch

    async def read(self, batch: SandboxBatch, app: ASGIApp) -> SandboxBatch:
        """Count one read; the read that completes the batch runs its lines (or expires it)."""
        if batch.state == "cancelling":
            self._finish(batch, "cancelled")
        elif batch.state == "running":
            batch.reads_left -= 1
            if batch.reads_left <= 0:
                if batch.expires:
                    self._finish(batch, "expired")
                else:
                    batch.answers = await run_lines(batch.lines, app)
                    self._finish(batch, "completed")
        return batch

    @staticmethod
    def cancel(batch: SandboxBatch) -> SandboxBatch:
        """Start cancelling a running batch (final on its next read); a final batch is left as it is."""
        if batch.state == "running":
            batch.state = "cancelling"
        return batch

    @staticmethod
    def _finish(batch: SandboxBatch, state: SandboxBatchState) -> None:
        batch.state = state
        batch.finished_at = int(time.time())


async def run_lines(lines: list[SubRequest], app: ASGIApp) -> dict[str, SubAnswer]:
    """Run each line as its own request against ``app`` (a few at a time, like a provider's workers)."""
    limit = asyncio.Semaphore(4)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:

        async def one(line: SubRequest) -> tuple[str, SubAnswer]:
            async with limit:
                response = await client.request(line.method, line.path, headers=line.headers, content=line.body)
            return line.key, SubAnswer(response.status_code, response.headers.get("x-request-id", ""), response.content)

        return dict(await asyncio.gather(*(one(line) for line in lines)))
