"""A scripted ``HttpExecutor``: programmed answers per call, every wire request recorded, no sockets."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import orjson

from imagegate.domain.errors import ProviderError
from imagegate.providers.base import WireRequest, WireResponse
from imagegate.providers.http import HttpExecutor


@dataclass(frozen=True, slots=True)
class Reply:
    """One programmed answer: a response, or a transport error to raise (timeout, refused connection)."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    raises: ProviderError | None = None

    @classmethod
    def json(cls, status: int, document: object, **headers: str) -> Reply:
        """A JSON answer; header names use ``_`` for ``-`` (``retry_after_ms="5"``)."""
        return cls(status, {k.replace("_", "-"): v for k, v in headers.items()}, orjson.dumps(document))


class ScriptedHttp(HttpExecutor):
    """Answers ``send`` from a per-host-path script, in order; records what was sent."""

    def __init__(self, script: Mapping[str, Iterable[Reply]]) -> None:
        super().__init__()
        self._script = {url: deque(replies) for url, replies in script.items()}
        self.sent: list[WireRequest] = []

    async def send(self, wire: WireRequest, *, timeout_s: float) -> WireResponse:
        """The next reply programmed for ``wire.url`` (an unscripted call fails the test loudly)."""
        self.sent.append(wire)
        replies = self._script.get(wire.url)
        if not replies:
            raise AssertionError(f"unscripted call to {wire.url}")
        reply = replies.popleft()
        if reply.raises is not None:
            raise reply.raises
        return WireResponse(status=reply.status, headers=dict(reply.headers), body=reply.body)

    def urls(self) -> list[str]:
        """The URLs called, in order."""
        return [wire.url for wire in self.sent]
