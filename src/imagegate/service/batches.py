"""Batches: many image requests through a provider's own Batch API, at its batch price tier.

``submit`` plans every request on the alias (the same validation and 400s as a single request),
picks the first route whose adapter offers a Batch API (``ProviderAdapter.batch_api``; routes
without one refuse batch mode), turns each request into the provider's batch line
(``ProviderAdapter.batch_wire``: its ordinary wire request, JSON where that is multipart) and
hands them to the batch API; the batch's state lives in the ``BatchStore``. ``refresh`` polls the
provider; when the batch is final the first poller to claim it writes one ledger row
per request, priced at the route's ``batch`` tier from the provider's usage for that line (lines
the provider never ran: a row at 0 with ``batch_expired`` / ``batch_cancelled``). ``results``
hands each line's images to a ``ResultSink`` (a directory, or the ImageStore port).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio.to_thread

from imagegate.accounting.auth import Principal
from imagegate.accounting.batches import BatchLineRecord, BatchRecord, BatchStore
from imagegate.accounting.ledger import utc_now
from imagegate.accounting.ports import LedgerEntry
from imagegate.domain.errors import ClientError, InvalidRequest, ProviderError, UpstreamBadResponse
from imagegate.domain.money import usd_string
from imagegate.domain.request import ImageRequest
from imagegate.providers.base import WireRequest, WireResponse
from imagegate.providers.batch import FINAL_STATES, BatchApi, BatchError, BatchLine, LineAnswer
from imagegate.providers.http import HttpExecutor
from imagegate.service.batch_codec import decode_line_request, encode_line_request
from imagegate.service.batch_lines import LineOutcome, line_outcome
from imagegate.service.plan import Plan, PlannedRoute

log = logging.getLogger("imagegate.batches")

OPERATOR_KEY_NAME = "batch-cli"  # the ledger's key name for batches the operator submits from the CLI
MAX_LINES = 50_000  # OpenAI's per-batch limit; a larger file is split by the client

Planner = Callable[[str, ImageRequest, Principal], Plan]
"""Plans one request for a caller (``Gateway.plan`` or the same ``plan_request`` call)."""

ResultSink = Callable[[str, bytes, str], Awaitable[None]]
"""Stores one result file: (name, bytes, content type). A directory or the ImageStore port."""


class BatchNotFound(ClientError):
    """No batch with that id (the transports answer 404)."""

    code = "batch_not_found"


@dataclass(frozen=True, slots=True)
class BatchInput:
    """One request of a batch file: the client's ``custom_id`` and the parsed request."""

    custom_id: str
    request: ImageRequest


def _provider_error(error: BatchError, route: PlannedRoute) -> ProviderError:
    if error.response is not None and error.response.status >= 300:
        return route.adapter.error_from_wire(error.response)
    return UpstreamBadResponse(f"the provider's Batch API: {error}")


class BatchService:
    """Submits, polls, settles, cancels and reads back provider batches."""

    def __init__(
        self,
        *,
        planner: Planner,
        http: HttpExecutor,
        store: BatchStore,
        record_entry: Callable[[LedgerEntry], None],
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._planner = planner
        self._http = http
        self._store = store
        self._record_entry = record_entry
        self._wall_clock = wall_clock

    # -- submit --------------------------------------------------------------------------------

    async def submit(self, inputs: Sequence[BatchInput], model: str, principal: Principal | None = None) -> BatchRecord:
        """Validate every request, then create the provider batch; the stored record.

        ``principal`` is the submitting key (None: the operator, from the CLI; no key id).

        Raises ``InvalidRequest`` naming the line (and parameter) for a request the route cannot
        honour, or when no route of ``model`` has a provider Batch API: nothing is sent then.
        """
        key_id = None if principal is None else principal.key_id
        if principal is None:
            principal = Principal(key_id=0, key_name=OPERATOR_KEY_NAME, models=None)
        if not inputs:
            raise InvalidRequest("The batch file holds no requests.", param="file")
        if len(inputs) > MAX_LINES:
            raise InvalidRequest(f"A batch holds at most {MAX_LINES} requests.", param="file")
        batch_id = "batch_" + secrets.token_hex(12)
        chosen: tuple[PlannedRoute, BatchApi] | None = None
        lines: list[BatchLineRecord] = []
        wires: list[BatchLine] = []
        for index, item in enumerate(inputs, start=1):
            where = f"line {index} (custom_id {item.custom_id!r})"
            request = dataclasses.replace(item.request, model=model, stream=False)
            try:
                plan = self._planner(f"{batch_id}:{index}", request, principal)
            except InvalidRequest as error:
                raise InvalidRequest(f"{where}: {error.message}", param=error.param) from None
            if chosen is None:
                chosen = _batch_route(plan)
            route, _api = chosen
            planned = next((candidate for candidate in plan.routes if candidate.target.name == route.target.name), None)
            if planned is None:
                raise InvalidRequest(f"{where}: route '{route.target.name}' cannot serve this request.")
            if planned.chunks is not None:
                raise InvalidRequest(
                    f"{where}: 'n' is more than the model makes in one request; split it into several lines.",
                    param="n",
                )
            line_request = planned.request_for(plan.request)
            key = f"{index:06d}"
            lines.append(BatchLineRecord(key=key, custom_id=item.custom_id, request=encode_line_request(line_request)))
            wires.append(BatchLine(key, planned.adapter.batch_wire(line_request, planned.target)))
        assert chosen is not None
        route, api = chosen
        try:
            provider_batch_id = await api.submit(wires, route.target, self._sender(route))
        except BatchError as error:
            raise _provider_error(error, route) from None
        now = self._wall_clock()
        record = BatchRecord(
            id=batch_id,
            model=model,
            route=route.target.name,
            provider=route.target.provider,
            provider_batch_id=provider_batch_id,
            state="running",
            provider_state="submitted",
            created_at=now,
            updated_at=now,
            lines=lines,
            key_id=key_id,
            key_name=principal.key_name,
        )
        await anyio.to_thread.run_sync(self._store.create_batch, record)
        return record

    def _sender(self, route: PlannedRoute) -> Callable[[WireRequest], Awaitable[WireResponse]]:
        async def send(wire: WireRequest) -> WireResponse:
            await route.adapter.authorize(wire, route.target, self._http)
            return await self._http.send(wire, timeout_s=route.target.timeout_s)

        return send

    # -- poll, settle, cancel ------------------------------------------------------------------

    async def get(self, batch_id: str) -> BatchRecord:
        """The stored record; ``BatchNotFound`` for an unknown id (the store is read off the event loop)."""
        record = await anyio.to_thread.run_sync(self._store.get_batch, batch_id)
        if record is None:
            raise BatchNotFound(f"No batch with id '{batch_id}'.", param="batch_id")
        return record

    def _principal(self, record: BatchRecord) -> Principal:
        # The submitter, for the ledger rows; its model check passed at submit time.
        key_id = 0 if record.key_id is None else record.key_id
        return Principal(key_id=key_id, key_name=record.key_name or "", models=None)

    def _route(self, record: BatchRecord, line: BatchLineRecord) -> tuple[Plan, PlannedRoute]:
        plan = self._planner(f"{record.id}:{int(line.key)}", decode_line_request(line.request), self._principal(record))
        for route in plan.routes:
            if route.target.name == record.route:
                return plan, route
        raise InvalidRequest(f"batch {record.id}: its route '{record.route}' is no longer configured")

    def _api(self, route: PlannedRoute) -> BatchApi:
        api = route.adapter.batch_api(route.target)
        if api is None:
            raise InvalidRequest(f"route '{route.target.name}' no longer has a provider Batch API")
        return api

    async def refresh(self, batch_id: str) -> BatchRecord:
        """Poll the provider; a batch that became final is settled (ledger rows) once."""
        record = await self.get(batch_id)
        if record.settled:
            return record
        _plan, route = self._route(record, record.lines[0])
        api = self._api(route)
        try:
            status = await api.status(record.provider_batch_id, route.target, self._sender(route))
        except BatchError as error:
            raise _provider_error(error, route) from None
        await anyio.to_thread.run_sync(
            self._store.update_state, batch_id, status.state, status.provider_state, self._wall_clock()
        )
        if status.state in FINAL_STATES:
            outcomes = await self._outcomes(record, status.state, status.has_results)
            entries = [outcome.entry for outcome in outcomes]
            claim = functools.partial(
                self._store.claim_settlement,
                batch_id,
                succeeded=sum(1 for entry in entries if entry.status == "ok"),
                failed=sum(1 for entry in entries if entry.status != "ok"),
                cost_micros=sum(entry.cost_micros for entry in entries),
            )
            if await anyio.to_thread.run_sync(claim):
                for entry in entries:
                    self._record_entry(entry)
        return await self.get(batch_id)

    async def poll_unsettled(self) -> int:
        """Refresh every unsettled batch once; how many settled. A failing batch is logged and skipped."""
        settled = 0
        for batch_id in await anyio.to_thread.run_sync(self._store.unsettled_batches):
            try:
                settled += (await self.refresh(batch_id)).settled
            except Exception:
                log.exception("polling batch %s failed; it is polled again next round", batch_id)
        return settled

    async def poll_forever(self, interval_s: float) -> None:
        """``poll_unsettled`` every ``interval_s`` (the gateway's background task); cancel to stop."""
        while True:
            await self.poll_unsettled()
            await asyncio.sleep(interval_s)

    async def cancel(self, batch_id: str) -> BatchRecord:
        """Ask the provider to cancel, then refresh (a cancelled batch is settled like any final one)."""
        record = await self.get(batch_id)
        if record.state in FINAL_STATES:
            return await self.refresh(batch_id)
        _plan, route = self._route(record, record.lines[0])
        try:
            await self._api(route).cancel(record.provider_batch_id, route.target, self._sender(route))
        except BatchError as error:
            raise _provider_error(error, route) from None
        return await self.refresh(batch_id)

    async def _answers(self, record: BatchRecord, has_results: bool) -> dict[str, LineAnswer]:
        if not has_results:
            return {}
        _plan, route = self._route(record, record.lines[0])
        try:
            answers = await self._api(route).answers(record.provider_batch_id, route.target, self._sender(route))
        except BatchError as error:
            raise _provider_error(error, route) from None
        return {answer.key: answer for answer in answers}

    async def _outcomes(self, record: BatchRecord, state: str, has_results: bool) -> list[LineOutcome]:
        answers = await self._answers(record, has_results)
        not_run = (
            "batch_cancelled" if state == "cancelled" else "batch_expired" if state == "expired" else "batch_failed"
        )
        return [self._outcome(record, line, answers.get(line.key), not_run) for line in record.lines]

    def _outcome(
        self, record: BatchRecord, line: BatchLineRecord, answer: LineAnswer | None, not_run: str
    ) -> LineOutcome:
        plan, route = self._route(record, line)
        outcome = line_outcome(
            plan, route, line, answer, not_run=not_run, batch_id=record.provider_batch_id, now=self._wall_clock()
        )
        outcome.entry.key_id = record.key_id  # the submitter's key (None: the operator's CLI)
        return outcome

    # -- results -------------------------------------------------------------------------------

    async def results(self, batch_id: str, sink: ResultSink) -> list[dict[str, Any]]:
        """Write every successful line's images to ``sink``; one summary object per request.

        The batch must be final. Image files are named ``{custom_id}-{i}.{format}``; the summary
        (also written as ``results.jsonl``) says per request: status, error code, files, cost.
        """
        record = await self.refresh(batch_id)
        if record.state not in FINAL_STATES:
            raise InvalidRequest(f"Batch '{batch_id}' is still {record.state}; its results are not ready.")
        outcomes = await self._outcomes(record, record.state, True)
        summary: list[dict[str, Any]] = []
        for outcome in outcomes:
            files: list[str] = []
            if outcome.result is not None:
                for index, image in enumerate(outcome.result.images):
                    if image.b64_json is None:
                        continue
                    mime = image.mime_type or "image/png"
                    name = f"{outcome.line.custom_id}-{index}.{mime.split('/')[-1]}"
                    await sink(name, base64.b64decode(image.b64_json), mime)
                    files.append(name)
            summary.append(
                {
                    "custom_id": outcome.line.custom_id,
                    "status": outcome.entry.status,
                    "error": outcome.entry.error_code,
                    "files": files,
                    "cost_micros": outcome.entry.cost_micros,
                }
            )
        return summary


def _batch_route(plan: Plan) -> tuple[PlannedRoute, BatchApi]:
    """The first planned route with a provider Batch API; ``InvalidRequest`` when there is none."""
    for route in plan.routes:
        api = route.adapter.batch_api(route.target)
        if api is not None:
            return route, api
    raise InvalidRequest(
        f"Model '{plan.alias.name}' has no route with a provider Batch API "
        "(OpenAI Images or the Gemini API); batch mode is refused for it.",
        param="model",
    )


def batch_view(record: BatchRecord) -> dict[str, Any]:
    """A batch as ``imagegate batch status --json`` and the API show it: no prompts, no provider secrets."""
    return {
        "id": record.id,
        "object": "imagegate.batch",
        "model": record.model,
        "route": record.route,
        "provider": record.provider,
        "provider_batch_id": record.provider_batch_id,
        "state": record.state,
        "provider_state": record.provider_state,
        "requests": len(record.lines),
        "settled": record.settled,
        "succeeded": record.succeeded,
        "failed": record.failed,
        "cost_micros": record.cost_micros,
        "cost_usd": usd_string(record.cost_micros),
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }
