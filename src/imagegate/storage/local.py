"""Images as files under the data directory, served by the gateway at signed, expiring links.

Layout: ``{root}/{key}``. A file's modification time is set to the end of its retention, so the
sweep needs no index (a walk deletes every file whose time has come) and an object past its
retention is treated as gone even before the sweep reaches it. Writes go to a hidden temporary
file in the same directory and are renamed into place, so a reader never sees half a file.
Keys are checked by ``storage.keys`` and the resolved path must stay under the root, so no key
reaches outside it.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import anyio.to_thread

from imagegate.accounting.ledger import utc_now
from imagegate.domain.image_store import StoredObject
from imagegate.domain.url_signing import UrlSigner
from imagegate.storage.keys import InvalidKey, checked_key

_CHUNK = 256 * 1024
# Temporary files older than this are left over from a crash mid-write; the sweep removes them.
_STALE_TEMP_S = 3600.0


class LocalImageStore:
    """The ``ImageStore`` of a single host: files under ``root``, links signed by ``signer``."""

    def __init__(self, root: Path, signer: UrlSigner, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.root = root.resolve()
        self.signer = signer
        self._clock = clock

    def _path(self, key: str) -> Path:
        path = (self.root / checked_key(key)).resolve()
        # Belt and braces: the key pattern already forbids '..', absolute paths and backslashes.
        if not path.is_relative_to(self.root) or path == self.root:
            raise InvalidKey(f"invalid object key {key[:80]!r}")
        return path

    async def put(
        self, key: str, data: bytes, *, content_type: str, expires_at: datetime, owner: str | None = None
    ) -> StoredObject:
        """Write the file atomically; its modification time records ``expires_at``."""
        path = self._path(key)
        await anyio.to_thread.run_sync(_write_file, path, data, expires_at.timestamp())
        return StoredObject(
            key=key,
            url=self.signer.url(key, expires_at),
            content_type=content_type,
            size=len(data),
            expires_at=expires_at,
        )

    async def url(self, key: str, *, expires_at: datetime) -> str:
        """A fresh link to ``key``, valid until ``expires_at``."""
        return self.signer.url(checked_key(key), expires_at)

    async def open(self, key: str) -> AsyncIterator[bytes]:
        """The file's bytes in chunks; ``FileNotFoundError`` when it is missing or past its retention."""
        path = self._path(key)
        handle = await anyio.to_thread.run_sync(_open_live, path, self._clock().timestamp())
        return _chunks(handle)

    async def delete(self, key: str) -> None:
        """Remove the file (a missing file is fine)."""
        path = self._path(key)
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    async def sweep(self, now: datetime) -> int:
        """Remove every file retained past ``now``, stale temporary files and emptied directories."""
        return await anyio.to_thread.run_sync(_sweep_tree, self.root, now.timestamp())


def _write_file(path: Path, data: bytes, retain_until: float) -> None:
    for attempt in range(2):
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.parent / f".tmp-{uuid.uuid4().hex}"
        try:
            with open(temp, "xb") as handle:
                handle.write(data)
        except FileNotFoundError:
            if attempt == 1:
                raise
            continue  # a concurrent sweep removed the (empty) directory between mkdir and open
        os.utime(temp, (time.time(), retain_until))
        os.replace(temp, path)
        return


def _open_live(path: Path, now: float) -> BinaryIO:
    handle = open(path, "rb")  # noqa: SIM115 - closed by the reader (_chunks)
    if os.fstat(handle.fileno()).st_mtime <= now:
        handle.close()
        raise FileNotFoundError(f"{path.name} is past its retention")
    return handle


async def _chunks(handle: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while True:
            chunk = await anyio.to_thread.run_sync(handle.read, _CHUNK)
            if not chunk:
                return
            yield chunk
    finally:
        handle.close()


def _sweep_tree(root: Path, now: float) -> int:
    deleted = 0
    if not root.is_dir():
        return 0
    for directory, _subdirs, files in os.walk(root, topdown=False):
        for name in files:
            path = Path(directory) / name
            with contextlib.suppress(FileNotFoundError):
                mtime = path.stat().st_mtime
                if name.startswith(".tmp-"):
                    if mtime < time.time() - _STALE_TEMP_S:
                        path.unlink()
                elif mtime <= now:
                    path.unlink()
                    deleted += 1
        if Path(directory) != root:
            # Only succeeds when empty; a directory a writer is filling right now stays.
            with contextlib.suppress(OSError):
                os.rmdir(directory)
    return deleted
