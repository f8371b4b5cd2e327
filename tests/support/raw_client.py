"""A raw socket client for what HTTP libraries do not do on purpose: hang up mid-request."""

from __future__ import annotations

import socket
import time


def leave_after(url: str, path: str, headers: dict[str, str], body: bytes, seconds: float) -> None:
    """Send the whole request, wait ``seconds``, hang up without reading the answer."""
    host, port = url.removeprefix("http://").split(":")
    head = f"POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    head += f"content-length: {len(body)}\r\n\r\n"
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head.encode() + body)
        time.sleep(seconds)
