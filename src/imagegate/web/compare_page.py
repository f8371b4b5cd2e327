"""The console's Compare pages: ``/console/compare`` (the runs) and ``/console/compare/{run}`` (the
review grid: prompts as rows, models as columns, each image with its latency, cost and status, and
accept / reject buttons — also the ``a`` and ``r`` keys on a focused image). A verdict goes through
the feedback service the public ``/v1/images/feedback`` uses, recorded for the key that ran the
comparison; the summary above the grid is the same one ``imagegate compare report`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio.to_thread
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from imagegate.domain.errors import ImagegateError
from imagegate.service.compare_runs import CompareCell, CompareRun, RequestUsage
from imagegate.service.compare_summary import summarise
from imagegate.service.feedback import RequestNotFound
from imagegate.web.auth import action, form_text, page, refused
from imagegate.web.render import render
from imagegate.web.session import ConsoleSession
from imagegate.web.state import deps


@dataclass(slots=True)
class ReviewImage:
    """One image in the grid and its current verdict."""

    url: str
    request_id: str
    index: int
    verdict: bool | None


@dataclass(slots=True)
class GridCell:
    """One prompt x model square: each repetition's outcome, the images, the ledger cost."""

    cells: list[CompareCell] = field(default_factory=list)
    images: list[ReviewImage] = field(default_factory=list)
    cost_micros: int = 0


def review_grid(
    run: CompareRun, cells: list[CompareCell], usage: dict[str, RequestUsage]
) -> list[tuple[str, list[GridCell]]]:
    """Rows of (prompt, one GridCell per model in the run's order)."""
    rows = [(prompt, [GridCell() for _ in run.models]) for prompt in run.prompts]
    column = {model: index for index, model in enumerate(run.models)}
    for cell in sorted(cells, key=lambda item: item.repetition):
        if cell.prompt_index >= len(rows) or cell.model not in column:
            continue
        square = rows[cell.prompt_index][1][column[cell.model]]
        square.cells.append(cell)
        used = usage.get(cell.request_id) if cell.request_id is not None else None
        square.cost_micros += 0 if used is None else used.cost_micros
        for index, url in enumerate(cell.image_urls):
            verdict = None if used is None else used.verdicts.get(index)
            if cell.request_id is not None:
                square.images.append(ReviewImage(url, cell.request_id, index, verdict))
    return rows


async def _runs(request: Request, session: ConsoleSession) -> Response:
    service = deps(request).compare_runs
    runs = [] if service is None else await anyio.to_thread.run_sync(service.visible_runs, None)
    return render(request, "compare_runs.html", session, active="compare", title="Compare", runs=runs)


async def _run(request: Request, session: ConsoleSession) -> Response:
    service = deps(request).compare_runs
    run_id = request.path_params["run_id"]
    if service is None:
        return refused(request, session, "Compare runs are not available on this gateway.", 404)
    try:
        run, cells, usage = await anyio.to_thread.run_sync(service.detail, None, run_id)
    except ImagegateError:
        return refused(request, session, f"No compare run '{run_id}'.", 404)
    return render(
        request,
        "compare_run.html",
        session,
        active="compare",
        title=f"Compare {run.name}",
        run=run,
        rows=review_grid(run, cells, usage),
        summary=[item.as_dict() for item in summarise(run.models, cells, usage)],
        done=len(cells),
    )


async def _verdict(request: Request, session: ConsoleSession, form: FormData) -> Response:
    run_id = request.path_params["run_id"]
    feedback = deps(request).feedback
    request_id = form_text(form, "request_id") or ""
    index_text = form_text(form, "image_index") or ""
    verdict = form_text(form, "verdict")
    if feedback is None or not index_text.isdigit() or verdict not in ("accept", "reject"):
        return refused(request, session, "That verdict could not be recorded.", 400)
    try:
        await feedback.give_for_owner(request_id, int(index_text), verdict == "accept")
    except (RequestNotFound, ImagegateError) as error:
        return refused(request, session, str(error), 400)
    return RedirectResponse(f"/console/compare/{run_id}#img-{request_id}-{index_text}", status_code=303)


runs_page = page(_runs)
run_page = page(_run)
# A verdict is a review, not a change to the gateway: admin-read reviewers may give it.
give_verdict = action(_verdict, needs_admin=False)
