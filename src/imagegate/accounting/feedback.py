"""Acceptance feedback: whether the customer kept each delivered image. The port ``store/``
implements, and the value types it speaks.

Feedback is append-only like the ledger: a second verdict on the same ``(request_id,
image_index)`` adds a row, and the **latest** row (highest id) is the verdict that counts. So a
retried or corrected call is idempotent in effect (last write wins) and the history stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RequestOwner:
    """Who made a request and how many images it delivered (from its ledger rows)."""

    request_id: str
    key_id: int | None
    key_name: str | None
    images: int


@dataclass(frozen=True, slots=True)
class ImageFeedback:
    """One verdict on one delivered image, by the key that made the request."""

    request_id: str
    image_index: int
    accepted: bool
    key_id: int | None
    key_name: str | None
    created_at: datetime


class FeedbackStore(Protocol):
    """Acceptance verdicts next to the ledger they refer to."""

    def request_owner(self, request_id: str) -> RequestOwner | None:
        """The request's key and delivered image count, or ``None`` when the ledger has no row."""
        ...

    def append_feedback(self, feedback: ImageFeedback) -> None:
        """Store one verdict (never updates or removes an earlier one)."""
        ...

    def current_feedback(self, request_id: str) -> dict[int, bool]:
        """The verdict that counts for each image of the request: image index -> accepted."""
        ...
