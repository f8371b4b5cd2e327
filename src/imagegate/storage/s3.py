"""Images as objects in S3-compatible storage (AWS S3, Cloudflare R2, GCS interop, MinIO).

Through aiobotocore: the asyncio build of botocore (aio-libs), so signing, retries, regions,
path-style addressing and presigning are botocore's own, maintained against every S3 change,
without boto3's resource layer (aioboto3) that this store does not need.

Layout: the image at ``{prefix}{key}`` (its retention end in the ``retain-until`` metadata) and
an empty marker at ``{prefix}.retention/{retain-until}/{key}``. Listing returns keys in order, so
the sweep reads markers oldest first and stops at the first one still in the future: a round
costs requests in proportion to what it deletes, not to what the bucket holds. Objects are
deleted one request each (GCS interop has no multi-object delete). Links are presigned GETs
(SigV4), which last at most 7 days: a longer retention gets links of 7 days, refreshable
through ``url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from imagegate.accounting.ledger import utc_now
from imagegate.domain.image_store import StoredObject
from imagegate.storage.keys import checked_key

if TYPE_CHECKING:
    from aiobotocore.response import StreamingBody
    from types_aiobotocore_s3 import S3Client

MAX_PRESIGN = timedelta(days=7)
_MARKERS = ".retention/"
_STAMP = "%Y%m%dT%H%M%SZ"
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_CHUNK = 256 * 1024


@dataclass(frozen=True, slots=True)
class S3Settings:
    """Where the bucket is and how to reach it; credentials None: botocore's own chain (env, IAM role)."""

    bucket: str
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    path_style: bool = False
    prefix: str = ""
    # The endpoint clients reach, when it differs from the one the gateway uses (MinIO inside a
    # private network, published under another name): links are presigned for this host.
    public_endpoint_url: str | None = None


class S3ImageStore:
    """The ``ImageStore`` over one bucket (and key prefix); the client opens on first use."""

    def __init__(self, settings: S3Settings, *, clock: Callable[[], datetime] = utc_now) -> None:
        if settings.prefix != "" and not settings.prefix.endswith("/"):
            settings = dataclasses.replace(settings, prefix=settings.prefix + "/")
        self.settings = settings
        self._clock = clock
        self._client: S3Client | None = None
        self._presigner: S3Client | None = None
        self._exit = contextlib.AsyncExitStack()
        self._opening = asyncio.Lock()

    async def _open_client(self, endpoint_url: str | None) -> S3Client:
        s = self.settings
        config = AioConfig(
            signature_version="s3v4",
            s3={"addressing_style": "path" if s.path_style else "auto"},
            # Non-AWS S3 servers (R2, GCS interop, older MinIO) reject botocore's newer default
            # checksums; send them only where the API requires one.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        return await self._exit.enter_async_context(
            get_session().create_client(
                "s3",
                region_name=s.region,
                endpoint_url=endpoint_url,
                aws_access_key_id=s.access_key_id,
                aws_secret_access_key=s.secret_access_key,
                config=config,
            )
        )

    async def _s3(self) -> S3Client:
        async with self._opening:
            if self._client is None:
                self._client = await self._open_client(self.settings.endpoint_url)
            return self._client

    async def _signer(self) -> S3Client:
        """The client that presigns links: the public endpoint's when one is set (it makes no requests)."""
        if self.settings.public_endpoint_url is None:
            return await self._s3()
        async with self._opening:
            if self._presigner is None:
                self._presigner = await self._open_client(self.settings.public_endpoint_url)
            return self._presigner

    async def aclose(self) -> None:
        """Close the client's connection pool (the app's shutdown)."""
        await self._exit.aclose()
        self._client = self._presigner = None

    def _object(self, key: str) -> str:
        return self.settings.prefix + checked_key(key)

    async def put(
        self, key: str, data: bytes, *, content_type: str, expires_at: datetime, owner: str | None = None
    ) -> StoredObject:
        """Upload the object, then its retention marker; the link lasts until ``expires_at`` (7 days at most)."""
        s3 = await self._s3()
        metadata = {"retain-until": _stamp(expires_at)}
        if owner is not None:
            metadata["owner"] = owner
        bucket = self.settings.bucket
        await s3.put_object(
            Bucket=bucket, Key=self._object(key), Body=data, ContentType=content_type, Metadata=metadata
        )
        await s3.put_object(Bucket=bucket, Key=f"{self.settings.prefix}{_MARKERS}{_stamp(expires_at)}/{key}", Body=b"")
        url_expires = min(expires_at, self._clock() + MAX_PRESIGN)
        return StoredObject(
            key=key,
            url=await self.url(key, expires_at=url_expires),
            content_type=content_type,
            size=len(data),
            expires_at=url_expires,
        )

    async def url(self, key: str, *, expires_at: datetime) -> str:
        """A presigned GET for ``key`` valid until ``expires_at`` (capped at 7 days from now)."""
        seconds = (min(expires_at, self._clock() + MAX_PRESIGN) - self._clock()).total_seconds()
        signer = await self._signer()
        return await signer.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.settings.bucket, "Key": self._object(key)},
            ExpiresIn=max(1, int(seconds)),
        )

    async def open(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes in chunks; ``FileNotFoundError`` when missing or past its retention."""
        s3 = await self._s3()
        try:
            response = await s3.get_object(Bucket=self.settings.bucket, Key=self._object(key))
        except ClientError as exc:
            if _error_code(exc) in _MISSING:
                raise FileNotFoundError(key) from None
            raise
        body = response["Body"]
        retain_until = response.get("Metadata", {}).get("retain-until")
        if retain_until is not None and _parse(retain_until) <= self._clock():
            async with body:
                pass  # closes the connection unread
            raise FileNotFoundError(f"{key} is past its retention")
        return _chunks(body)

    async def delete(self, key: str) -> None:
        """Delete the object (S3 answers a missing key with success too); its marker goes in the sweep."""
        s3 = await self._s3()
        await s3.delete_object(Bucket=self.settings.bucket, Key=self._object(key))

    async def sweep(self, now: datetime) -> int:
        """Delete the objects whose retention ended by ``now`` (and their markers), oldest first."""
        s3 = await self._s3()
        bucket, markers = self.settings.bucket, self.settings.prefix + _MARKERS
        deleted = 0
        paginator = s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=bucket, Prefix=markers):
            for item in page.get("Contents", []):
                marker = item.get("Key", "")
                stamp, _, key = marker[len(markers) :].partition("/")
                due = _parse_or_none(stamp)
                if due is not None and due > now:
                    return deleted  # markers sort by time: everything after this one is later
                if await self._expired(s3, key, now):
                    await s3.delete_object(Bucket=bucket, Key=self.settings.prefix + key)
                    deleted += 1
                await s3.delete_object(Bucket=bucket, Key=marker)
        return deleted

    async def _expired(self, s3: S3Client, key: str, now: datetime) -> bool:
        """Whether ``key`` exists and is retained past ``now`` no longer (a later put may have extended it)."""
        try:
            head = await s3.head_object(Bucket=self.settings.bucket, Key=self.settings.prefix + key)
        except ClientError as exc:
            if _error_code(exc) in _MISSING:
                return False
            raise
        retain_until = _parse_or_none(head.get("Metadata", {}).get("retain-until", ""))
        return retain_until is None or retain_until <= now


async def _chunks(body: StreamingBody) -> AsyncIterator[bytes]:
    async with body:
        async for chunk in body.iter_chunks(_CHUNK):
            yield chunk


def _stamp(moment: datetime) -> str:
    """``moment`` to the whole second, rounded up (an object is never deleted early)."""
    if moment.microsecond != 0:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment.astimezone(UTC).strftime(_STAMP)


def _parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, _STAMP).replace(tzinfo=UTC)


def _parse_or_none(stamp: str) -> datetime | None:
    try:
        return _parse(stamp)
    except ValueError:
        return None


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
