"""``SqlCompareStore``: compare runs and cells, and the ledger's view of a run's requests."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from imagegate.accounting.compare_runs import CompareCell, CompareRun, RequestUsage
from imagegate.store.bulk_tables import compare_cells, compare_runs
from imagegate.store.database import Bind, begin, connect
from imagegate.store.ledger_tables import image_feedback, ledger


class SqlCompareStore:
    """The ``CompareRunStore`` port on SQLAlchemy Core (SQLite and PostgreSQL)."""

    def __init__(self, bind: Bind) -> None:
        self._bind = bind

    def add_run(self, run: CompareRun) -> bool:
        """Insert the run unless its id exists."""
        with begin(self._bind) as conn:
            if conn.execute(sa.select(compare_runs.c.run_id).where(compare_runs.c.run_id == run.run_id)).first():
                return False
            conn.execute(
                sa.insert(compare_runs).values(
                    run_id=run.run_id,
                    name=run.name,
                    key_id=run.key_id,
                    key_name=run.key_name,
                    prompts=list(run.prompts),
                    models=list(run.models),
                    cells=run.cells,
                    created_at=run.created_at,
                )
            )
        return True

    def get_run(self, run_id: str) -> CompareRun | None:
        """The run, or None."""
        with connect(self._bind) as conn:
            row = conn.execute(sa.select(compare_runs).where(compare_runs.c.run_id == run_id)).first()
        return None if row is None else _run(row)

    def list_runs(self, key_id: int | None, limit: int) -> list[CompareRun]:
        """Newest first, one key's or everyone's."""
        stmt = sa.select(compare_runs).order_by(compare_runs.c.created_at.desc()).limit(limit)
        if key_id is not None:
            stmt = stmt.where(compare_runs.c.key_id == key_id)
        with connect(self._bind) as conn:
            return [_run(row) for row in conn.execute(stmt)]

    def put_cell(self, run_id: str, cell: CompareCell) -> None:
        """Replace the cell's record (a resumed run may record a cell again)."""
        values: dict[str, Any] = {
            "run_id": run_id,
            "cell_id": cell.cell_id,
            "prompt_index": cell.prompt_index,
            "model": cell.model,
            "repetition": cell.repetition,
            "status": cell.status,
            "images_requested": cell.images_requested,
            "images": cell.images,
            "request_id": cell.request_id,
            "latency_ms": cell.latency_ms,
            "error_code": cell.error_code,
            "error_message": cell.error_message,
            "image_urls": list(cell.image_urls),
        }
        with begin(self._bind) as conn:
            conn.execute(
                sa.delete(compare_cells).where(
                    compare_cells.c.run_id == run_id, compare_cells.c.cell_id == cell.cell_id
                )
            )
            conn.execute(sa.insert(compare_cells).values(**values))

    def cells(self, run_id: str) -> list[CompareCell]:
        """Every recorded cell, by cell id."""
        stmt = sa.select(compare_cells).where(compare_cells.c.run_id == run_id).order_by(compare_cells.c.cell_id)
        with connect(self._bind) as conn:
            return [
                CompareCell(
                    cell_id=row.cell_id,
                    prompt_index=row.prompt_index,
                    model=row.model,
                    repetition=row.repetition,
                    status=row.status,
                    images_requested=row.images_requested,
                    images=row.images,
                    request_id=row.request_id,
                    latency_ms=row.latency_ms,
                    error_code=row.error_code,
                    error_message=row.error_message,
                    image_urls=tuple(row.image_urls),
                )
                for row in conn.execute(stmt)
            ]

    def usage(self, run_id: str) -> dict[str, RequestUsage]:
        """Ledger sums per request of the run, only rows of the run's own key, with current verdicts."""
        run_requests = (
            sa.select(compare_cells.c.request_id)
            .where(compare_cells.c.run_id == run_id, compare_cells.c.request_id.is_not(None))
            .scalar_subquery()
        )
        owner = sa.select(compare_runs.c.key_id).where(compare_runs.c.run_id == run_id).scalar_subquery()
        failed = sa.case((ledger.c.status == "ok", 0), else_=1)
        delivered = sa.case((ledger.c.status == "ok", ledger.c.images), else_=0)
        estimated = sa.case((ledger.c.cost_estimated, ledger.c.cost_micros), else_=0)
        sums = (
            sa.select(
                ledger.c.request_id,
                sa.func.sum(ledger.c.cost_micros).label("cost"),
                sa.func.sum(estimated).label("estimated"),
                sa.func.count().label("attempts"),
                sa.func.sum(failed).label("failed"),
                sa.func.sum(delivered).label("images"),
            )
            .where(ledger.c.request_id.in_(run_requests), ledger.c.key_id == owner)
            .group_by(ledger.c.request_id)
        )
        verdicts = (
            sa.select(image_feedback.c.request_id, image_feedback.c.image_index, image_feedback.c.accepted)
            .where(image_feedback.c.request_id.in_(run_requests), image_feedback.c.key_id == owner)
            .order_by(image_feedback.c.id)
        )
        with connect(self._bind) as conn:
            rows = conn.execute(sums).all()
            current: dict[str, dict[int, bool]] = {}
            for verdict in conn.execute(verdicts):
                current.setdefault(verdict.request_id, {})[verdict.image_index] = bool(verdict.accepted)
        return {
            row.request_id: RequestUsage(
                request_id=row.request_id,
                cost_micros=int(row.cost),
                estimated_micros=int(row.estimated),
                attempts=int(row.attempts),
                failed_attempts=int(row.failed),
                images=int(row.images),
                verdicts=current.get(row.request_id, {}),
            )
            for row in rows
        }


def _run(row: Any) -> CompareRun:
    return CompareRun(
        run_id=row.run_id,
        name=row.name,
        key_id=row.key_id,
        key_name=row.key_name,
        created_at=row.created_at,
        prompts=tuple(row.prompts),
        models=tuple(row.models),
        cells=row.cells,
    )
