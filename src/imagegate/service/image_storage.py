"""Keeping generated images in the configured ``ImageStore`` and handing out their URLs.

Used by the dialects for URL responses (``response_format: "url"``) and by anything else that
keeps results (jobs). Each image is decoded once from the provider's base64 and written to the
store; only its key and URL leave this module, never its bytes. How long an object lives is the
retention of the caller's team (``storage.teams`` in the config) or the global one; its URL
works as long as the store can sign it within that lifetime.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from imagegate.accounting.ledger import utc_now
from imagegate.domain.errors import ImagegateError, UpstreamBadResponse
from imagegate.domain.image_format import extension, sniff_mime
from imagegate.domain.image_store import ImageStore, StoredObject
from imagegate.domain.result import GeneratedImage, ImageResult

log = logging.getLogger("imagegate.storage")


class StorageFailed(ImagegateError):
    """The images were generated (and billed) but could not be stored; the message says so."""

    code = "storage_failed"
    retryable = True


@dataclass(frozen=True, slots=True)
class Retention:
    """How long stored images live: per team name, else the global lifetime."""

    default: timedelta = timedelta(days=1)
    teams: Mapping[str, timedelta] = field(default_factory=dict)

    def lifetime(self, team_name: str | None) -> timedelta:
        """The lifetime of an object stored for ``team_name`` (None: a key without a team)."""
        if team_name is not None and team_name in self.teams:
            return self.teams[team_name]
        return self.default


class ImageStorage:
    """Stores results' images in an ``ImageStore`` under the owner's retention."""

    def __init__(self, store: ImageStore, retention: Retention, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.retention = retention
        self._clock = clock

    def retained_until(self, team_name: str | None) -> datetime:
        """When an object stored now for ``team_name`` is deleted."""
        return self._clock() + self.retention.lifetime(team_name)

    async def keep(
        self, result: ImageResult, *, key_prefix: str, team_name: str | None, owner: str | None = None
    ) -> list[StoredObject]:
        """Store every image of a parsed (not raw) result for ``team_name``'s retention (``store_images``)."""
        return await store_images(
            self.store, result, key_prefix=key_prefix, expires_at=self.retained_until(team_name), owner=owner
        )


async def store_images(
    store: ImageStore, result: ImageResult, *, key_prefix: str, expires_at: datetime, owner: str | None = None
) -> list[StoredObject]:
    """Store every image of a parsed (not raw) result as ``{key_prefix}/{index}.{ext}``.

    ``key_prefix`` must be unique per result (a request or job id). The type is read from the
    image's bytes (providers do not always name it). Images the provider only returned as its own
    URL are not fetched: they raise ``StorageFailed``, as does a store that fails.
    """

    async def put(index: int, image: GeneratedImage) -> StoredObject:
        data = _decoded(image)
        content_type = sniff_mime(data) or image.mime_type or "application/octet-stream"
        key = f"{key_prefix}/{index}.{extension(content_type)}"
        try:
            return await store.put(key, data, content_type=content_type, expires_at=expires_at, owner=owner)
        except Exception as exc:
            # The provider was paid; say so rather than a bare 500. The cause goes to the log only
            # (it may name the bucket or endpoint).
            log.exception("storing image %s failed", key)
            raise StorageFailed(
                "The images were generated but could not be stored; try again, "
                "or ask for response_format 'b64_json' where the endpoint offers it."
            ) from exc

    # The images of one result are written side by side (n images cost one write's latency).
    return list(await asyncio.gather(*(put(index, image) for index, image in enumerate(result.images))))


def _decoded(image: GeneratedImage) -> bytes:
    if image.b64_json is None:
        raise StorageFailed("The provider returned an image without its data; it cannot be stored.")
    try:
        return base64.b64decode(image.b64_json, validate=True)
    except (binascii.Error, ValueError):
        raise UpstreamBadResponse("the provider's image data is not valid base64") from None
