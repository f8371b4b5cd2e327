"""``SqlFeedbackStore``: the accounting ``FeedbackStore`` port on SQLAlchemy Core.

Append-only like the ledger store: verdicts are inserted, never updated; the latest row per
``(request_id, image_index)`` (highest id) is the one that counts.
"""

from __future__ import annotations

import sqlalchemy as sa

from imagegate.accounting.feedback import ImageFeedback, RequestOwner
from imagegate.store.database import Bind, begin, connect
from imagegate.store.ledger_tables import image_feedback, ledger


class SqlFeedbackStore:
    """Verdicts in ``image_feedback``; request ownership read from ``ledger``.

    ``bind`` is an ``Engine`` or a ``Connection``, as for the other stores.
    """

    def __init__(self, bind: Bind) -> None:
        self._bind = bind

    def request_owner(self, request_id: str) -> RequestOwner | None:
        """The request's key and the images its successful attempt delivered."""
        ok_images = sa.case((ledger.c.status == "ok", ledger.c.images), else_=0)
        stmt = sa.select(
            sa.func.min(ledger.c.key_id).label("key_id"),
            sa.func.min(ledger.c.key_name).label("key_name"),
            sa.func.coalesce(sa.func.sum(ok_images), 0).label("images"),
            sa.func.count().label("rows"),
        ).where(ledger.c.request_id == request_id)
        with connect(self._bind) as conn:
            row = conn.execute(stmt).one()
        if row.rows == 0:
            return None
        return RequestOwner(request_id=request_id, key_id=row.key_id, key_name=row.key_name, images=int(row.images))

    def append_feedback(self, feedback: ImageFeedback) -> None:
        """Insert one verdict."""
        with begin(self._bind) as conn:
            conn.execute(
                sa.insert(image_feedback).values(
                    request_id=feedback.request_id,
                    image_index=feedback.image_index,
                    accepted=feedback.accepted,
                    key_id=feedback.key_id,
                    key_name=feedback.key_name,
                    created_at=feedback.created_at,
                )
            )

    def current_feedback(self, request_id: str) -> dict[int, bool]:
        """image index -> the latest verdict, for one request."""
        stmt = (
            sa.select(image_feedback.c.image_index, image_feedback.c.accepted)
            .where(image_feedback.c.request_id == request_id)
            .order_by(image_feedback.c.id)
        )
        with connect(self._bind) as conn:
            rows = conn.execute(stmt).all()
        # Ordered by id, so later verdicts overwrite earlier ones.
        return {row.image_index: bool(row.accepted) for row in rows}


def current_verdicts() -> sa.Subquery:
    """Per request: how many images are currently accepted and rejected (latest verdict each).

    Shared with the report queries; one row per ``request_id``, so joining it to ledger rows
    never multiplies them.
    """
    latest = (
        sa.select(sa.func.max(image_feedback.c.id).label("id"))
        .group_by(image_feedback.c.request_id, image_feedback.c.image_index)
        .subquery("latest_feedback")
    )
    accepted = sa.case((image_feedback.c.accepted, 1), else_=0)
    return (
        sa.select(
            image_feedback.c.request_id,
            sa.func.sum(accepted).label("accepted"),
            sa.func.sum(1 - accepted).label("rejected"),
        )
        .join(latest, latest.c.id == image_feedback.c.id)
        .group_by(image_feedback.c.request_id)
        .subquery("verdicts")
    )
