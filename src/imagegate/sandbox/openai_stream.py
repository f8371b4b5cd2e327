"""OpenAI Images streaming: ``text/event-stream`` of ``*.partial_image`` then ``*.completed`` events.

Each frame is sent as soon as its image is encoded. The ``stream-error``, ``truncated`` and
``malformed`` faults break the stream in their own ways (see docs/sandbox.md).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from imagegate.sandbox.config import SandboxState
from imagegate.sandbox.faults import TransportLookup, drop_connection
from imagegate.sandbox.openai_models import ImageJob, b64_text, render_spec, usage_for

__all__ = ["SSEResponse", "stream_response"]


class _Cut:
    """A stream chunk after which the connection is dropped instead of finishing the response."""

    def __init__(self, data: bytes) -> None:
        self.data = data


class SSEResponse:
    """``text/event-stream`` sent chunk by chunk as the generator yields (the server writes each at once).

    Always status 200: errors found before streaming are plain JSON answers instead.
    """

    def __init__(self, frames: AsyncIterator[bytes | _Cut], lookup: TransportLookup | None) -> None:
        self.frames = frames
        self.lookup = lookup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        async for frame in self.frames:
            if isinstance(frame, _Cut):
                await send({"type": "http.response.body", "body": frame.data, "more_body": True})
                await drop_connection(scope, receive, self.lookup, reset=False)
                return
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _sse(event: str, payload: dict[str, Any]) -> bytes:
    return _sse_raw(event, orjson.dumps(payload))


def _sse_raw(event: str, data: bytes) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


async def _stream_frames(state: SandboxState, job: ImageJob, outcome: str | None) -> AsyncIterator[bytes | _Cut]:
    prefix = "image_generation" if job.endpoint == "generations" else "image_edit"
    common = {
        "background": job.background,
        "output_format": job.output_format,
        "quality": job.quality,
        "size": job.size,
    }
    # stream-error needs one partial before the error, even when none were asked for.
    partials = max(job.partial_images, 1) if outcome == "stream-error" else job.partial_images
    for index in range(job.n):
        for k in range(partials):
            data = await run_in_threadpool(state.renderer.render, render_spec(job, index, (k, partials)))
            yield _sse(
                f"{prefix}.partial_image",
                {
                    "type": f"{prefix}.partial_image",
                    "b64_json": b64_text(data),
                    "created_at": int(time.time()),
                    "partial_image_index": k,
                    **common,
                },
            )
            if outcome == "stream-error":
                error = {
                    "type": "server_error",
                    "code": "server_error",
                    "param": None,
                    "message": "The server had an error while generating the image (sandbox stream-error).",
                }
                yield _sse("error", {"type": "error", "error": error})
                return
        data = await run_in_threadpool(state.renderer.render, render_spec(job, index))
        payload: dict[str, Any] = {
            "type": f"{prefix}.completed",
            "b64_json": b64_text(data),
            "created_at": int(time.time()),
            **common,
            "usage": usage_for(job, 1, partials, include_input=index == 0),
        }
        if job.safety_identifier is not None:
            payload["safety_identifier"] = job.safety_identifier
        frame = _sse(f"{prefix}.completed", payload)
        if outcome == "truncated":
            yield _Cut(frame[: len(frame) // 2])
            return
        if outcome == "malformed":
            broken = b'{"type": "' + prefix.encode() + b'.completed", "b64_json": "iVBOR'
            frame = _sse_raw(f"{prefix}.completed", broken)
        yield frame


def stream_response(state: SandboxState, job: ImageJob, outcome: str | None) -> SSEResponse:
    """The streamed answer to ``job``; ``outcome`` is the name of a body fault to apply, if any."""
    return SSEResponse(_stream_frames(state, job, outcome), state.transport_lookup)
