"""Where Google-dialect clients put their key: ``x-goog-api-key``, ``?key=``, or a bearer token.

google-genai sends ``x-goog-api-key``; curl examples use ``?key=``; Vertex-style clients send
``Authorization: Bearer``. Each carries the imagegate key here, never a Google credential.
"""

from __future__ import annotations

from starlette.requests import Request


def google_api_key(request: Request) -> str | None:
    """The presented key, or None when the request carries none."""
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
