"""Server-sent-event framing shared by the adapters that stream (provider-neutral)."""

from __future__ import annotations

from collections.abc import AsyncIterator

_SEPARATORS = (b"\r\n\r\n", b"\n\n", b"\r\r")


def _split(buffer: bytes) -> tuple[bytes, bytes] | None:
    best: tuple[int, int] | None = None
    for separator in _SEPARATORS:
        index = buffer.find(separator)
        if index != -1 and (best is None or index < best[0]):
            best = (index, len(separator))
    if best is None:
        return None
    index, length = best
    return buffer[: index + length], buffer[index + length :]


async def sse_frames(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Whole SSE frames (including their terminating blank line) from arbitrary byte chunks."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        while True:
            split = _split(buffer)
            if split is None:
                break
            frame, buffer = split
            yield frame
    if buffer.strip():
        yield buffer


def frame_fields(frame: bytes) -> tuple[str | None, bytes]:
    """``(event name, data)`` of one frame; multi-line data is joined with newlines."""
    event: str | None = None
    data: list[bytes] = []
    for line in frame.splitlines():
        if line.startswith(b"event:"):
            event = line[6:].strip().decode("utf-8", "replace")
        elif line.startswith(b"data:"):
            data.append(line[5:].lstrip(b" "))
    return event, b"\n".join(data)
