"""Log output for ``imagegate serve``: text lines, or one JSON object a line for log shippers.

``IMAGEGATE_LOG_FORMAT=json``: every record is ``{"time", "level", "logger", "message"}``; the
attempt line (``service/attempts.py``) adds its fields as keys of their own (``request_id``,
``attempt``, ``key``, ``model``, ``route``, ``status``, ``error``, ``images``, ``cost_micros``,
``latency_ms``) and ``"event": "attempt"``, so a shipper needs no parsing of the message.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

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
        return orjson.dumps(document, default=str).decode()


def configure_logging(level: str, log_format: Literal["text", "json"]) -> None:
    """The root logger's handler for this process (the server and each of its workers)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
