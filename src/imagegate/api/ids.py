"""Request ids: the gateway's own, sent as ``x-request-id`` and used as the ledger's key."""

from __future__ import annotations

import uuid


def new_request_id() -> str:
    """A fresh request id, ``req_`` + 32 hex digits."""
    return "req_" + uuid.uuid4().hex
