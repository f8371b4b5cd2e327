"""Log output for ``imagegate serve``: text lines, or one JSON object a line for log shippers.

``IMAGEGATE_LOG_FORMAT=json``: every record is ``{"time", "level", "logger", "message"}``; the
attempt line (``service/attempts.py``) adds its fields as keys of their own (``request_id``,
``attempt``, ``key``, ``model``, ``route``, ``status``, ``error``, ``images``, ``cost_micros``,
``latency_ms``) and ``"event": "attempt"``, so a shipper needs no parsing of the message.

Formatting and writing happen off the event loop: the root logger gets a ``QueueHandler`` whose
records a listener thread (``LineWriter``) formats and writes, many lines a write
(docs/performance.md, "The attempt log line"). A request pays for building the record and one
queue put, made once per loop iteration after the request's own I/O; the line itself is unchanged.
"""

from __future__ import annotations

import atexit
import copy
import logging
import logging.handlers
import queue
import threading
import time
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from imagegate.accounting.handoff import LoopHandoff

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (with its attempt fields when it is an attempt line)."""
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        attempt = record.__dict__.get("attempt")
        if isinstance(attempt, dict):
            document["event"] = "attempt"
            document.update(attempt)
        if record.exc_info is not None:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text is not None:  # formatted before it crossed to the listener thread
            document["exception"] = record.exc_text
        return orjson.dumps(document, default=str).decode()


class _LazyQueueHandler(logging.handlers.QueueHandler):
    """Queues records as they are, leaving message formatting to the listener thread.

    The standard ``prepare`` formats every record in the caller (for queues that pickle); this
    queue stays in the process, so only the traceback is rendered here (its frames may change
    once the ``except`` block ends). The arguments of a record are rendered later, on the
    listener thread: log calls pass ids, names, numbers, or snapshots built for the line.
    """

    def __init__(self, records: queue.SimpleQueue[logging.LogRecord]) -> None:
        super().__init__(records)
        # Records logged on the event loop reach the listener once per loop iteration, after the
        # request's own I/O (accounting/handoff.py); elsewhere at once.
        self._handoff: LoopHandoff[logging.LogRecord] = LoopHandoff(self._put_all)

    def _put_all(self, records: list[logging.LogRecord]) -> None:
        for record in records:
            self.queue.put_nowait(record)

    def enqueue(self, record: logging.LogRecord) -> None:
        """Hand the record on (see ``__init__``)."""
        self._handoff.put(record)

    def flush(self) -> None:
        """Pass on what is staged (the listener writes it)."""
        self._handoff.flush()

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """The record to queue: a copy with its exception pre-rendered, the message left lazy."""
        exc_info = record.exc_info
        if exc_info is None:
            return record
        record = copy.copy(record)
        if record.exc_text is None:
            record.exc_text = _TRACEBACKS.formatException(exc_info)
        record.exc_info = None
        return record


_TRACEBACKS = logging.Formatter()
_STOP = logging.LogRecord("imagegate", logging.CRITICAL, "", 0, "stop", None, None)


class LineWriter:
    """The listener thread: takes queued records, formats them and writes them, many lines a write.

    After a record arrives it lingers ``linger_s`` so that the records of the next moments share
    one ``write`` and one flush (each of which lets go of the interpreter lock, which the event
    loop then has to win back), then takes everything queued, up to ``batch``. A line appears at
    most ``linger_s`` late; ``stop`` writes everything queued before it.
    """

    def __init__(
        self,
        records: queue.SimpleQueue[logging.LogRecord],
        handler: logging.StreamHandler[Any],
        *,
        linger_s: float = 0.02,
        batch: int = 1000,
    ) -> None:
        self._records = records
        self._handler = handler
        self._linger_s = linger_s
        self._batch = batch
        self._thread = threading.Thread(target=self._run, name="imagegate-log", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Write what is queued, then end the thread (idempotent)."""
        if self._thread.is_alive():
            self._records.put(_STOP)
            self._thread.join(5.0)

    def _run(self) -> None:
        while True:
            first = self._records.get()
            if first is not _STOP and self._linger_s > 0:
                time.sleep(self._linger_s)
            taken = [first]
            while len(taken) < self._batch:
                try:
                    taken.append(self._records.get_nowait())
                except queue.Empty:
                    break
            self._write([record for record in taken if record is not _STOP])
            if any(record is _STOP for record in taken):
                return

    def _write(self, records: list[logging.LogRecord]) -> None:
        handler = self._handler
        lines: list[str] = []
        for record in records:
            if record.levelno < handler.level or not handler.filter(record):
                continue
            try:
                lines.append(handler.format(record))
            except Exception:
                handler.handleError(record)
        if not lines:
            return
        try:
            handler.stream.write("\n".join(lines) + "\n")
            handler.flush()
        except Exception:
            handler.handleError(records[-1])


_listener: LineWriter | None = None


def configure_logging(level: str, log_format: Literal["text", "json"]) -> None:
    """The root logger's handler for this process (the server and each of its workers).

    Like ``logging.basicConfig``, nothing changes when the root logger already has handlers.
    """
    global _listener
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    if _listener is not None:  # configured before in this process (a forked worker): a fresh thread
        _listener.stop()
    _listener = LineWriter(records, handler)
    _listener.start()
    queued = _LazyQueueHandler(records)
    # Written out before the process exits: no line lost (atexit runs the last registered first).
    atexit.register(_listener.stop)
    atexit.register(queued.flush)
    # Neither format shows them, and looking them up is a good part of building each record; nor the
    # caller's file, function and line, which each record otherwise finds by walking the stack (the
    # logging HOWTO's "Optimization" section names both switches).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    logging.basicConfig(level=level.upper(), handlers=[queued])
