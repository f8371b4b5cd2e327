"""``FileAttemptSpool``: the accounting ``AttemptSpool`` port as an append-only file per process.

Each gateway process (each ``--workers`` worker too) appends one JSON line per begun attempt to
``<data_dir>/spool/attempts-<pid>-<random>.spool``, which it holds under an exclusive ``flock``
for its whole life. A lock that can be taken therefore means the owner is gone (the kernel drops
it when a process dies, even by SIGKILL), and any process sharing the directory may recover that
file: its attempts go to the database as pending records, then the file is deleted.

Lines are copied into a shared memory mapping of the file (``mmap``, ``MAP_SHARED``), not written
with ``write()``: the request's event loop appends one line per attempt, and a ``write()`` call lets go
of the interpreter lock, which hands it to the ledger or log thread and leaves the loop waiting to get
it back (measured in docs/performance.md, "The spool, mapped"). A copy into the mapping is in the
kernel's page cache as soon as it is made, exactly as a returned ``write()`` is: it survives the
process being killed, and is written back to the file by the kernel. What neither survives (the
machine losing power) is equally lost by SQLite's ``synchronous=NORMAL`` commits; lines are not
fsync'd.

The file's blocks are reserved ahead (``posix_fallocate``, twice ``compact_bytes``: 8 MiB of disk
per process by default; pages take memory only once written) and its unused tail reads as zero
bytes, which end the lines when it is recovered. Reserving rather than sizing a sparse file matters:
a write through a mapping into a block the disk cannot supply is a SIGBUS, not an error; with the
blocks reserved, a full disk fails the reservation (at start, or when the file is rewritten: logged,
as a failed ``write()`` was) and never a copy. Attempts whose outcome is in the
database are forgotten in memory; once the lines have grown past ``compact_bytes``, the file is
rewritten with only the open attempts (under the same lock, then renamed into place), so it stays
small. A mapping too small for the open attempts themselves is doubled.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import mmap
import os
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson

from imagegate.accounting.ports import PendingAttempt
from imagegate.store.pending_attempts import decode_entry

log = logging.getLogger("imagegate.ledger")

SUFFIX = ".spool"


def _open_locked(path: Path, flags: int) -> int | None:
    """``path`` opened and exclusively locked, or None when another live process holds it."""
    fd = os.open(path, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _line(pending: PendingAttempt) -> bytes:
    # orjson writes the entry's dataclass and datetimes itself, as ``encode_entry`` and
    # ``isoformat()`` would (every field, RFC 3339 with offset): one C call on every request's path.
    return orjson.dumps({"entry": pending.entry, "resolve_after": pending.resolve_after}) + b"\n"


class _Mapped:
    """A spool file open for writing and mapped whole: ``data`` is its bytes, ``size`` the lines' end."""

    __slots__ = ("data", "fd", "size")

    def __init__(self, fd: int, capacity: int) -> None:
        try:
            # Blocks reserved now, not a sparse file: a page first touched through a mapping whose
            # block the file system cannot allocate (disk full) kills the process with SIGBUS, where
            # a ``write()`` would have failed with ENOSPC. Here a full disk fails this call instead.
            os.posix_fallocate(fd, 0, capacity)
            self.data = mmap.mmap(fd, capacity, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self.size = 0

    def put(self, line: bytes) -> None:
        end = self.size + len(line)
        self.data[self.size : end] = line
        self.size = end

    def close(self) -> None:
        self.data.close()
        os.close(self.fd)


def lines_of(data: bytes) -> list[bytes]:
    """The lines of a spool file's bytes: up to the first zero byte (the unused, sized-ahead tail)."""
    end = data.find(b"\0")
    return (data if end < 0 else data[:end]).splitlines()


def _parse(data: bytes, path: Path) -> list[PendingAttempt]:
    found: dict[tuple[str, int], PendingAttempt] = {}
    for raw in lines_of(data):
        try:
            record = orjson.loads(raw)
            pending = PendingAttempt(decode_entry(record["entry"]), datetime.fromisoformat(record["resolve_after"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            # A line torn by the kill (the last one) holds nothing usable: the attempt had not begun.
            log.warning("skipping an unreadable line in %s", path)
            continue
        found[pending.key] = pending
    return list(found.values())


@dataclass(frozen=True, slots=True)
class _Recovered:
    """A dead process's spool, held under its lock until released."""

    path: Path
    fd: int


class FileAttemptSpool:
    """Begun attempts in a local append-only file (see the module docstring)."""

    def __init__(self, directory: Path, *, compact_bytes: int = 4 * 1024 * 1024) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._dir = directory
        self._compact_bytes = compact_bytes
        self._path = directory / f"attempts-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        # Room for the lines up to compaction, and as many again before the next compaction runs.
        self._capacity = max(2 * compact_bytes, mmap.PAGESIZE)
        fd = _open_locked(self._path, os.O_RDWR | os.O_CREAT)
        assert fd is not None, "a fresh spool file is never locked by another process"
        try:
            self._file: _Mapped | None = _Mapped(fd, self._capacity)
        except OSError:
            self._path.unlink(missing_ok=True)
            raise
        self._open: dict[tuple[str, int], bytes] = {}
        # Held for one copy on the event loop, or while the writer thread compacts the file.
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        """This process's spool file."""
        return self._path

    def append(self, pending: PendingAttempt) -> None:
        """One line (about 600 bytes) copied into the mapped file: no system call, the lock kept."""
        line = _line(pending)
        with self._lock:
            file = self._file
            if file is None:
                return  # closed: the process is stopping and takes no new attempts
            if file.size + len(line) > len(file.data):
                # Rare: the lines outgrew the mapping before the writer thread compacted it (it is
                # behind, or the open attempts alone fill it): rewrite them into a larger one.
                file = self._rewrite(extra=len(line))
            file.put(line)
            self._open[pending.key] = line

    def discard(self, keys: Sequence[tuple[str, int]]) -> None:
        """Forget ``keys``; rewrite the file with the open attempts once it has grown too big."""
        with self._lock:
            for key in keys:
                self._open.pop(key, None)
            if self._file is not None and self._file.size > self._compact_bytes:
                self._rewrite()

    def _rewrite(self, *, extra: int = 0) -> _Mapped:
        """Replace the file by one holding only the open attempts, with room for ``extra`` bytes more."""
        assert self._file is not None
        data = b"".join(self._open.values())
        capacity = max(self._capacity, 2 * (len(data) + extra))
        temporary = self._path.with_name(self._path.name + ".tmp")
        fd = _open_locked(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
        assert fd is not None, "the temporary file is this process's own"
        try:
            fresh = _Mapped(fd, capacity)
        except OSError:
            temporary.unlink(missing_ok=True)  # the current file and mapping stay in use
            raise
        fresh.put(data)
        os.replace(temporary, self._path)  # the locked new file takes the name; the old one is dropped
        self._file.close()
        self._file = fresh
        return fresh

    def recover(self) -> list[tuple[object, list[PendingAttempt]]]:
        """The attempts of every spool in the directory whose owner died, each file still locked."""
        found: list[tuple[object, list[PendingAttempt]]] = []
        for path in sorted(self._dir.glob("attempts-*" + SUFFIX + "*")):
            if path.name.startswith(self._path.name):
                continue
            fd = _open_locked(path, os.O_RDONLY)
            if fd is None:
                continue  # its process is alive
            if path.suffix != SUFFIX:
                # A compaction cut short: the .spool it was replacing still holds every line.
                path.unlink(missing_ok=True)
                os.close(fd)
                continue
            with open(fd, "rb", closefd=False) as file:
                data = file.read()
            found.append((_Recovered(path, fd), _parse(data, path)))
        return found

    def release(self, token: object, *, stored: bool) -> None:
        """Drop a recovered spool's lock; delete the file when its attempts are in the database."""
        assert isinstance(token, _Recovered), "a token from recover()"
        if stored:
            token.path.unlink(missing_ok=True)
        os.close(token.fd)

    def close(self) -> None:
        """Close the file; delete it when no attempt in it is open (otherwise the next start recovers it)."""
        with self._lock:
            if self._file is None:
                return
            if not self._open:
                self._path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
