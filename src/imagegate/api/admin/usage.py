"""``GET /admin/usage/export?format=csv|jsonl&since=&until=&team=&key=``: the ledger, streamed.

The same rows as ``imagegate usage export`` (``service.usage_export``), oldest first, sent as
they are read: the response starts at once and memory stays flat for any number of rows. Open to
the master key and to ``admin`` and ``admin-read`` keys (``api.admin.access``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from imagegate.accounting.ledger_scan import LedgerFilter, LedgerScan
from imagegate.api.admin.access import admin_endpoint
from imagegate.api.admin.params import time_param
from imagegate.domain.errors import InvalidRequest
from imagegate.service.usage_export import EXPORT_FORMATS, MEDIA_TYPES, ExportFormat, export_chunks


async def _export(request: Request) -> Response:
    query = request.query_params
    output = query.get("format", "jsonl")
    if output not in EXPORT_FORMATS:
        raise InvalidRequest(f"'format' must be one of {', '.join(EXPORT_FORMATS)}.", param="format")
    chosen: ExportFormat = "csv" if output == "csv" else "jsonl"
    where = LedgerFilter(
        since=time_param(query, "since"),
        until=time_param(query, "until"),
        team=query.get("team") or None,
        key_name=query.get("key") or None,
    )
    scan: LedgerScan = request.app.state.ledger_scan
    chunks = export_chunks(scan, where, chosen)
    headers = {"content-disposition": f'attachment; filename="imagegate-usage.{chosen}"'}
    return StreamingResponse(_drain(chunks), media_type=MEDIA_TYPES[chosen], headers=headers)


async def _drain(chunks: Generator[bytes, None, None]) -> AsyncIterator[bytes]:
    """The chunks, each read on a worker thread (the database cursor blocks), then the cursor closed."""
    try:
        while True:
            chunk = await anyio.to_thread.run_sync(next, chunks, None)
            if chunk is None:
                return
            yield chunk
    finally:
        # Also when the client hung up mid-download: release the cursor and its connection.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(chunks.close)


routes = [Route("/admin/usage/export", admin_endpoint(_export, write=False), methods=["GET"])]
