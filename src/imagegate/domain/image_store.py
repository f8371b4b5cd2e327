"""The image storage port: where stored images (URL responses, job results, compare runs) live.

``storage/local.py`` (files under the data directory, served by the gateway at signed, expiring
URLs) and ``storage/s3.py`` (S3-compatible object storage, presigned URLs) implement it;
``app.py`` picks one from settings. Only object keys and URLs ever enter the database, never
image bytes or base64.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One stored image: its key, a URL a client can fetch it from, and when both stop working."""

    key: str
    url: str
    content_type: str
    size: int
    expires_at: datetime


class ImageStore(Protocol):
    """Stores image bytes and hands out expiring URLs for them."""

    async def put(
        self, key: str, data: bytes, *, content_type: str, expires_at: datetime, owner: str | None = None
    ) -> StoredObject:
        """Store ``data`` under ``key`` (overwriting), retained until ``expires_at``; its URL is signed to match."""
        ...

    async def url(self, key: str, *, expires_at: datetime) -> str:
        """A fresh signed URL for an existing object, valid until ``expires_at``."""
        ...

    async def open(self, key: str) -> AsyncIterator[bytes]:
        """Stream an object's bytes (for the gateway's own download route and for tests)."""
        ...

    async def delete(self, key: str) -> None:
        """Delete an object; deleting a missing object is not an error."""
        ...

    async def sweep(self, now: datetime) -> int:
        """Delete every object retained past ``now``; how many were deleted."""
        ...
