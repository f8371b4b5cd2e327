"""A raw HTTP/1.1 client for tests that must control the upload byte by byte.

HTTP libraries buffer, retry and give up on a write error before reading the answer; these tests
need to stream a huge body lazily, read the server's answer while still sending, and count how
many body bytes the server let in before it answered.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import orjson


@dataclass
class RawAnswer:
    """The server's answer and how much of the body the client managed to send before it."""

    status: int
    headers: dict[str, str]
    body: bytes
    body_bytes_sent: int

    def json(self) -> dict:
        """The answer's body as JSON."""
        return orjson.loads(self.body)


def lazy_chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """``total`` bytes in ``size``-byte pieces, produced one at a time (never all in memory)."""
    piece = b"x" * size
    sent = 0
    while sent < total:
        chunk = piece[: min(size, total - sent)]
        sent += len(chunk)
        yield chunk


def _chunked(chunks: Iterator[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        yield f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    yield b"0\r\n\r\n"


def _parse(raw: bytes, sent: int) -> RawAnswer:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        decoded = b""
        rest = body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            decoded, rest = decoded + rest[:size], rest[size + 2 :]
        body = decoded
    return RawAnswer(status=status, headers=headers, body=body, body_bytes_sent=sent)


def post_streaming(
    url: str,
    path: str,
    headers: dict[str, str],
    body: Iterator[bytes],
    *,
    chunked: bool = True,
    timeout_s: float = 10.0,
) -> RawAnswer:
    """POST ``body`` (lazily, chunked unless ``Content-Length`` is in ``headers``) while reading the answer.

    Sending stops as soon as the server answers, closes, or refuses more bytes; the answer is read
    until the server closes the connection or ``Content-Length`` is complete.
    """
    host, port = url.removeprefix("http://").split(":")
    head = [f"POST {path} HTTP/1.1", f"host: {host}:{port}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    if chunked:
        head.append("transfer-encoding: chunked")
    frames = _chunked(body) if chunked else body
    with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sock.setblocking(False)
        received = b""
        pending = b""
        sent = 0
        sending = True
        while True:
            readable, writable, _ = select.select([sock], [sock] if sending else [], [], timeout_s)
            if not readable and not writable:
                raise TimeoutError(f"no answer within {timeout_s} s ({sent} body bytes sent)")
            if readable:
                try:
                    data = sock.recv(1 << 16)
                except ConnectionResetError:
                    data = b""
                if data == b"":
                    break
                received += data
                sending = False  # the server has answered: the rest of the body is not wanted
                if _complete(received):
                    break
                continue
            if pending == b"":
                pending = next(frames, b"")
                if pending == b"":
                    sending = False
                    continue
            try:
                count = sock.send(pending)
            except (BrokenPipeError, ConnectionResetError):
                sending = False
                continue
            sent += count
            pending = pending[count:]
    return _parse(received, sent)


def _complete(raw: bytes) -> bool:
    head, found, body = raw.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return len(body) >= int(value.strip())
    return False
