"""A small real ``ImageStore`` on the local disk, for tests: files under a directory, URLs from a
plain HTTP file server started beside it. (The gateway's own local store, with signed URLs it
serves itself, is storage/local.py; tests of jobs only need the port.)"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from imagegate.domain.image_store import StoredObject


class DiskImageStore:
    """Objects as files under ``root``; ``base_url`` serves ``root``; expiries kept beside each file."""

    def __init__(self, root: Path, base_url: str) -> None:
        self.root = root
        self.base_url = base_url.rstrip("/")

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        assert path.is_relative_to(self.root.resolve()), key
        return path

    async def put(
        self, key: str, data: bytes, *, content_type: str, expires_at: datetime, owner: str | None = None
    ) -> StoredObject:
        """Write the file (and its expiry)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.with_name(path.name + ".expires").write_text(expires_at.isoformat())
        return StoredObject(key, await self.url(key, expires_at=expires_at), content_type, len(data), expires_at)

    async def url(self, key: str, *, expires_at: datetime) -> str:
        """The file server's URL for ``key``."""
        return f"{self.base_url}/{key}?expires={int(expires_at.timestamp())}"

    async def open(self, key: str) -> AsyncIterator[bytes]:
        """The file's bytes, in one chunk."""
        data = self._path(key).read_bytes()

        async def chunks() -> AsyncIterator[bytes]:
            yield data

        return chunks()

    async def delete(self, key: str) -> None:
        """Remove the file if it is there."""
        path = self._path(key)
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".expires").unlink(missing_ok=True)

    async def sweep(self, now: datetime) -> int:
        """Delete files retained past ``now``."""
        deleted = 0
        for marker in self.root.rglob("*.expires"):
            if datetime.fromisoformat(marker.read_text()) <= now:
                await self.delete(str(marker.with_suffix("").relative_to(self.root)))
                deleted += 1
        return deleted

    def keys(self) -> list[str]:
        """Every stored key (tests)."""
        return sorted(
            str(path.relative_to(self.root))
            for path in self.root.rglob("*")
            if path.is_file() and path.suffix != ".expires"
        )


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving_disk_store(root: Path) -> Iterator[DiskImageStore]:
    """A ``DiskImageStore`` under ``root`` with its file server running on a free port."""
    root.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield DiskImageStore(root, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
