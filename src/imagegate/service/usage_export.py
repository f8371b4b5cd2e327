"""``usage export``: the ledger as CSV or JSON Lines, streamed in chunks, never held whole.

One row per attempt, the same fields (and money as the same decimal strings) as ``imagegate usage
--json``. The CLI writes the chunks to a file or stdout; the admin API hands them to a streamed
response. Either way only one chunk of rows is in memory at a time.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Generator, Iterable, Iterator
from typing import Any, Literal, get_args

import orjson

from imagegate.accounting.ledger_scan import LedgerFilter, LedgerScan
from imagegate.accounting.ports import LedgerEntry
from imagegate.domain.money import usd_string

ExportFormat = Literal["csv", "jsonl"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)
MEDIA_TYPES: dict[ExportFormat, str] = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl"}


# The CSV header: ``ledger_row``'s keys, in order (a test holds the two together).
CSV_COLUMNS: tuple[str, ...] = (
    "request_id",
    "attempt",
    "key_name",
    "team",
    "tags",
    "model",
    "provider",
    "provider_model",
    "route",
    "operation",
    "dialect",
    "status",
    "error_code",
    "http_status",
    "images",
    "usage",
    "cost_usd",
    "cost_estimated",
    "latency_ms",
    "provider_request_id",
    "stream",
    "client_disconnected",
    "created_at",
)


def ledger_row(entry: LedgerEntry) -> dict[str, Any]:
    """The JSON shape of one ledger row (money as a decimal string)."""
    return {
        "request_id": entry.request_id,
        "attempt": entry.attempt,
        "key_name": entry.key_name,
        "team": entry.team,
        "tags": entry.tags,
        "model": entry.model,
        "provider": entry.provider,
        "provider_model": entry.provider_model,
        "route": entry.route,
        "operation": entry.operation,
        "dialect": entry.dialect,
        "status": entry.status,
        "error_code": entry.error_code,
        "http_status": entry.http_status,
        "images": entry.images,
        "usage": entry.usage,
        "cost_usd": usd_string(entry.cost_micros),
        "cost_estimated": entry.cost_estimated,
        "latency_ms": entry.latency_ms,
        "provider_request_id": entry.provider_request_id,
        "stream": entry.stream,
        "client_disconnected": entry.client_disconnected,
        "created_at": entry.created_at.isoformat(),
    }


def export_chunks(
    scan: LedgerScan, where: LedgerFilter, output: ExportFormat, *, rows_per_chunk: int = 500
) -> Generator[bytes, None, None]:
    """The matching ledger rows, oldest first, encoded as ``output``, ``rows_per_chunk`` rows per chunk.

    CSV starts with a header line (also when no row matches); nested values (``usage``) are JSON
    in their cell. Closing the iterator early releases the database cursor.
    """
    entries = scan.scan_entries(where, batch_size=max(rows_per_chunk, 100))
    try:
        yield from _encode(entries, output, rows_per_chunk)
    finally:
        entries.close()


def _encode(entries: Iterable[LedgerEntry], output: ExportFormat, rows_per_chunk: int) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    chunk: list[bytes] = []
    if output == "csv":
        writer.writerow(CSV_COLUMNS)
    for count, entry in enumerate(entries, start=1):
        row = ledger_row(entry)
        if output == "jsonl":
            chunk.append(orjson.dumps(row) + b"\n")
        else:
            writer.writerow(_csv_cell(value) for value in row.values())
        if count % rows_per_chunk == 0:
            yield _flush(chunk, buffer)
    last = _flush(chunk, buffer)
    if last != b"":
        yield last


def _flush(chunk: list[bytes], buffer: io.StringIO) -> bytes:
    data = b"".join(chunk) + buffer.getvalue().encode()
    chunk.clear()
    buffer.seek(0)
    buffer.truncate()
    return data


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)
