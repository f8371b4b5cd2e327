"""Every response carries ``x-request-id``, including those no endpoint produced (404, 405)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagegate.api.http import new_request_id

_HEADER = b"x-request-id"


class RequestIdMiddleware:
    """Adds an ``x-request-id`` header to any HTTP response that lacks one (pure ASGI, no buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                if not any(name.lower() == _HEADER for name, _ in headers):
                    message["headers"] = [*headers, (_HEADER, new_request_id().encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)
