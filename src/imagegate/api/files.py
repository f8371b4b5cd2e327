"""``GET /files/{key}``: images of the local store, at the signed, expiring links it hands out.

The signature covers the key and the expiry (``service.url_signing``); a wrong or missing
signature and an expired link both answer 403 before the store is touched, and a key that is
gone (deleted, or past its retention) answers 404. No key is needed: the link is the credential.
"""

from __future__ import annotations

import mimetypes
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from imagegate.domain.image_format import sniff_mime
from imagegate.domain.url_signing import UrlSigner
from imagegate.service.image_storage import ImageStorage


def _error(status: int, message: str, code: str) -> Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def download(request: Request) -> Response:
    """Stream one stored image, with its own Content-Type."""
    signer: UrlSigner | None = request.app.state.file_signer
    storage: ImageStorage | None = request.app.state.image_storage
    if signer is None or storage is None:
        return _error(404, "This gateway does not serve stored files itself.", "not_found")
    key: str = request.path_params["key"]
    now = datetime.now(UTC)
    if not signer.verify(key, request.query_params.get("expires"), request.query_params.get("sig"), now=now):
        return _error(403, "This link is invalid or has expired.", "invalid_signature")
    try:
        chunks = await storage.store.open(key)
    except (FileNotFoundError, ValueError):
        return _error(404, "This file no longer exists.", "not_found")
    first = await anext(chunks, b"")
    content_type = sniff_mime(first) or mimetypes.guess_type(key)[0] or "application/octet-stream"
    remaining = max(0, int(request.query_params["expires"]) - int(now.timestamp()))
    headers = {"cache-control": f"private, max-age={remaining}", "x-content-type-options": "nosniff"}
    return StreamingResponse(_rest(first, chunks), media_type=content_type, headers=headers)


async def _rest(first: bytes, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first != b"":
        yield first
    async for chunk in chunks:
        yield chunk


routes = [Route("/files/{key:path}", download, methods=["GET", "HEAD"])]
