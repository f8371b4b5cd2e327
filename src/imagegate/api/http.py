"""What every transport shares: request ids, key extraction (bearer and Google-style) and body reading.

Dialect packages (``api/openai``, ``api/google``) and the gateway's own endpoints (``api/admin``,
``api/public``) build on this module; none of them imports another dialect's module.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from starlette.requests import Request

from imagegate.domain.errors import PayloadTooLarge


def new_request_id() -> str:
    """A fresh request id, ``req_`` + 32 hex digits."""
    return "req_" + uuid.uuid4().hex


def bearer_token(request: Request) -> str | None:
    """The key from ``Authorization: Bearer <key>``, or None."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def google_api_key(request: Request) -> str | None:
    """The key a Google-dialect client presented: ``x-goog-api-key``, ``?key=`` or a bearer token.

    google-genai sends ``x-goog-api-key``; curl examples use ``?key=``; Vertex-style clients send
    ``Authorization: Bearer``. Each carries the imagegate key, never a Google credential.
    """
    header = request.headers.get("x-goog-api-key")
    if header is not None and header.strip() != "":
        return header.strip()
    query = request.query_params.get("key")
    if query is not None and query.strip() != "":
        return query.strip()
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip() != "":
        return token.strip()
    return None


def speaks_google(request: Request) -> bool:
    """True when the request authenticates the Google way (header or query key), not by bearer."""
    return request.headers.get("x-goog-api-key") is not None or request.query_params.get("key") is not None


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than this gateway's limit of {limit} bytes.")


async def body_chunks(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The request body as it arrives, refusing a declared length over ``limit`` before reading
    and stopping at ``limit`` bytes when the length was not declared (chunked)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        yield chunk


async def read_body(request: Request, limit: int) -> bytes:
    """The whole request body, refusing (before reading it all) anything over ``limit`` bytes."""
    body = b"".join([chunk async for chunk in body_chunks(request, limit)])
    # Cache it where Starlette looks, so later readers (multipart parsing) see the same bytes.
    request._body = body
    return body
