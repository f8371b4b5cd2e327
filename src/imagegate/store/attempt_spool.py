"""``FileAttemptSpool``: the accounting ``AttemptSpool`` port as an append-only file per process.

Each gateway process (each ``--workers`` worker too) appends one JSON line per begun attempt to
``<data_dir>/spool/attempts-<pid>-<random>.spool``, which it holds under an exclusive ``flock``
for its whole life. A lock that can be taken therefore means the owner is gone (the kernel drops
it when a process dies, even by SIGKILL), and any process sharing the directory may recover that
file: its attempts go to the database as pending records, then the file is deleted.

Lines are not fsync'd: a ``write()`` is in the kernel's page cache when it returns, which survives
the process being killed; what it does not survive (the machine losing power) is equally lost by
SQLite's ``synchronous=NORMAL`` commits. Attempts whose outcome is in the database are forgotten
in memory; once the file has grown past ``compact_bytes``, it is rewritten with only the open
attempts (under the same lock, then renamed into place), so it stays small.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
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


def _parse(data: bytes, path: Path) -> list[PendingAttempt]:
    found: dict[tuple[str, int], PendingAttempt] = {}
    for raw in data.splitlines():
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
        fd = _open_locked(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        assert fd is not None, "a fresh spool file is never locked by another process"
        self._fd: int | None = fd
        self._open: dict[tuple[str, int], bytes] = {}
        self._size = 0
        # Held for one write() on the event loop, or while the writer thread compacts the file.
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        """This process's spool file."""
        return self._path

    def append(self, pending: PendingAttempt) -> None:
        """One ``write()`` of one line (about 600 bytes)."""
        line = _line(pending)
        with self._lock:
            if self._fd is None:
                return  # closed: the process is stopping and takes no new attempts
            os.write(self._fd, line)
            self._open[pending.key] = line
            self._size += len(line)

    def discard(self, keys: Sequence[tuple[str, int]]) -> None:
        """Forget ``keys``; rewrite the file with the open attempts once it has grown too big."""
        with self._lock:
            for key in keys:
                self._open.pop(key, None)
            if self._fd is not None and self._size > self._compact_bytes:
                self._compact()

    def _compact(self) -> None:
        assert self._fd is not None
        temporary = self._path.with_name(self._path.name + ".tmp")
        fd = _open_locked(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND)
        assert fd is not None, "the temporary file is this process's own"
        data = b"".join(self._open.values())
        os.write(fd, data)
        os.replace(temporary, self._path)  # the locked new file takes the name; the old one is dropped
        os.close(self._fd)
        self._fd, self._size = fd, len(data)

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
            if self._fd is None:
                return
            if not self._open:
                self._path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
