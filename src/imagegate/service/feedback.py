"""Acceptance feedback on delivered images (``POST /v1/images/feedback``).

Only the key that made a request may judge its images; any other key is told the request does
not exist (404), as for an unknown id, so ids never become an oracle across tenants. Ledger
rows land off the response path, so a verdict that arrives right after its response may find no
row yet: the service then waits for this process's ledger writer once and looks again. (On
another replica the row appears within the writer's flush interval; a client retrying a 404
after a moment is covered.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import anyio.to_thread

from imagegate.accounting.auth import Principal
from imagegate.accounting.feedback import FeedbackStore, ImageFeedback, RequestOwner
from imagegate.accounting.ledger import utc_now
from imagegate.domain.errors import InvalidRequest

# How long a verdict on a not-yet-recorded request waits for the local ledger writer.
LEDGER_WAIT_S = 1.0


class RequestNotFound(LookupError):
    """No request with that id was made with the caller's key."""


class FeedbackService:
    """Records verdicts after checking ownership and the image index."""

    def __init__(
        self,
        store: FeedbackStore,
        *,
        wait_for_ledger: Callable[[float], bool] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._wait_for_ledger = wait_for_ledger
        self._clock = clock

    async def give(self, principal: Principal, request_id: str, image_index: int, accepted: bool) -> ImageFeedback:
        """Store the verdict; raises ``RequestNotFound`` or ``InvalidRequest`` (bad index)."""
        owner = await self._owner(request_id)
        if owner is None or owner.key_id != principal.key_id:
            raise RequestNotFound(f"No request '{request_id}' was made with this key.")
        return await self._record(owner, request_id, image_index, accepted)

    async def give_for_owner(self, request_id: str, image_index: int, accepted: bool) -> ImageFeedback:
        """An operator's verdict (the console's review grid), recorded for the key that made the request."""
        owner = await self._owner(request_id)
        if owner is None:
            raise RequestNotFound(f"No request '{request_id}' in the ledger.")
        return await self._record(owner, request_id, image_index, accepted)

    async def _owner(self, request_id: str) -> RequestOwner | None:
        owner = await anyio.to_thread.run_sync(self._store.request_owner, request_id)
        if owner is None and self._wait_for_ledger is not None:
            await anyio.to_thread.run_sync(self._wait_for_ledger, LEDGER_WAIT_S)
            owner = await anyio.to_thread.run_sync(self._store.request_owner, request_id)
        return owner

    async def _record(self, owner: RequestOwner, request_id: str, image_index: int, accepted: bool) -> ImageFeedback:
        if not 0 <= image_index < owner.images:
            raise InvalidRequest(
                f"image_index {image_index} is out of range: the request delivered {owner.images} image(s)",
                param="image_index",
            )
        verdict = ImageFeedback(
            request_id=request_id,
            image_index=image_index,
            accepted=accepted,
            key_id=owner.key_id,
            key_name=owner.key_name,
            created_at=self._clock(),
        )
        await anyio.to_thread.run_sync(self._store.append_feedback, verdict)
        return verdict
