"""Image jobs in the OpenAI dialect (docs/jobs.md).

    POST /v1/images/jobs                 a generations body (JSON) or an edits body (multipart); 202 + job
    GET  /v1/images/jobs                 the key's jobs, newest first (?limit=, ?after=<job id>)
    GET  /v1/images/jobs/{job_id}        one job
    POST /v1/images/jobs/{job_id}/cancel cancel a queued or running job

Beside the Images fields a job body may carry ``metadata`` (an object of your own, up to 16
string keys; a JSON string in multipart) and ``webhook`` (an endpoint id: its events go there
only). ``operation=edit`` marks an edit; a multipart body is an edit anyway. Results are always
URLs (``response_format`` may be ``url`` or left out). ``Idempotency-Key`` makes a repeated
submission return the first job: one job, one provider submission, one charge.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagegate.accounting.auth import Principal
from imagegate.accounting.idempotency import request_fingerprint
from imagegate.accounting.keys import hash_key
from imagegate.api.http import bearer_token, new_request_id
from imagegate.api.openai.errors import error_response
from imagegate.api.openai.parse import parse_edit, parse_generation
from imagegate.domain.errors import ClientError, ImagegateError, InvalidRequest
from imagegate.domain.request import ImageRequest
from imagegate.service.gateway import Gateway
from imagegate.service.jobs import JobNotFound, JobService

_MAX_METADATA_KEYS = 16


class JobsDisabled(ClientError):
    """This gateway has no job service (no image storage configured)."""

    code = "not_found"


def _jobs(request: Request) -> JobService:
    jobs: JobService | None = getattr(request.app.state, "jobs", None)
    if jobs is None:
        raise JobsDisabled("Image jobs are not enabled on this gateway (no image storage is configured).")
    return jobs


def _json(body: object, request_id: str, status: int = 200) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers={"x-request-id": request_id}
    )


async def _answer(request: Request, work: Any) -> Response:
    request_id = new_request_id()
    try:
        gateway: Gateway = request.app.state.gateway
        principal = await gateway.authenticate(bearer_token(request))
        body, status = await work(request, gateway, principal, _jobs(request))
        return _json(body, request_id, status)
    except ImagegateError as error:
        response = error_response(error, request_id)
        if isinstance(error, (JobNotFound, JobsDisabled)):
            response.status_code = 404
        return response


def _metadata(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise InvalidRequest("Invalid value for 'metadata': expected a JSON object.", param="metadata") from None
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise InvalidRequest("Invalid value for 'metadata': expected an object of strings.", param="metadata")
    if len(value) > _MAX_METADATA_KEYS:
        raise InvalidRequest(f"'metadata' may have at most {_MAX_METADATA_KEYS} keys.", param="metadata")
    return value


# A job body's own fields beside the Images ones; they never reach a provider.
JOB_FIELDS = frozenset({"metadata", "webhook", "operation"})


async def _parse(request: Request, gateway: Gateway) -> tuple[ImageRequest, dict[str, Any] | None, str | None]:
    """The job's image request, its metadata and its webhook endpoint (these two never reach a provider)."""
    multipart = request.headers.get("content-type", "").startswith("multipart/form-data")
    image_request = await (parse_edit if multipart else parse_generation)(request, gateway.limits, JOB_FIELDS)
    extra = image_request.extra
    operation = extra.pop("operation", None)
    if operation not in (None, "generate", "edit"):
        raise InvalidRequest("Invalid value for 'operation': expected 'generate' or 'edit'.", param="operation")
    if operation == "edit" and not multipart:
        raise InvalidRequest("Edit jobs must be sent as multipart/form-data with the image files.", param="operation")
    if operation == "generate" and multipart:
        raise InvalidRequest("A multipart job is an edit; send generations as JSON.", param="operation")
    response_format = image_request.response_format
    if response_format not in (None, "url"):
        raise InvalidRequest("Jobs always return URLs: 'response_format' may only be 'url'.", param="response_format")
    if image_request.stream:
        raise InvalidRequest("Jobs cannot be streamed; poll the job or register a webhook.", param="stream")
    webhook = extra.pop("webhook", None)
    if webhook is not None and not isinstance(webhook, str):
        raise InvalidRequest("Invalid value for 'webhook': expected an endpoint id.", param="webhook")
    return image_request, _metadata(extra.pop("metadata", None)), webhook


async def _submit(
    request: Request, gateway: Gateway, principal: Principal, jobs: JobService
) -> tuple[dict[str, Any], int]:
    image_request, metadata, webhook = await _parse(request, gateway)
    key = request.headers.get("idempotency-key")
    fingerprint = None
    if key is not None:
        fingerprint = (
            request_fingerprint(request.url.path, image_request)
            + orjson.dumps([metadata, webhook], option=orjson.OPT_SORT_KEYS).hex()
        )
    secret = bearer_token(request)
    assert secret is not None  # authenticated above
    job, created = await jobs.submit(
        principal,
        image_request,
        key_digest=hash_key(secret),
        metadata=metadata,
        webhook_id=webhook,
        idempotency_key=key,
        fingerprint=fingerprint,
    )
    return await jobs.view(job), 202 if created else 200


async def _list(request: Request, gateway: Gateway, principal: Principal, jobs: JobService) -> tuple[Any, int]:
    raw_limit = request.query_params.get("limit", "20")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
        raise InvalidRequest("'limit' must be an integer from 1 to 100.", param="limit")
    limit = int(raw_limit)
    after = request.query_params.get("after")
    found = await jobs.list_jobs(principal, after=after, limit=limit + 1)
    data = [await jobs.view(job) for job in found[:limit]]
    body = {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": len(found) > limit,
    }
    return body, 200


async def _get(request: Request, gateway: Gateway, principal: Principal, jobs: JobService) -> tuple[Any, int]:
    return await jobs.view(await jobs.get(principal, request.path_params["job_id"])), 200


async def _cancel(request: Request, gateway: Gateway, principal: Principal, jobs: JobService) -> tuple[Any, int]:
    return await jobs.view(await jobs.cancel(principal, request.path_params["job_id"])), 200


async def submit(request: Request) -> Response:
    """``POST /v1/images/jobs``."""
    return await _answer(request, _submit)


async def list_jobs(request: Request) -> Response:
    """``GET /v1/images/jobs``."""
    return await _answer(request, _list)


async def get_job(request: Request) -> Response:
    """``GET /v1/images/jobs/{job_id}``."""
    return await _answer(request, _get)


async def cancel_job(request: Request) -> Response:
    """``POST /v1/images/jobs/{job_id}/cancel``."""
    return await _answer(request, _cancel)


routes = [
    Route("/v1/images/jobs", submit, methods=["POST"]),
    Route("/v1/images/jobs", list_jobs, methods=["GET"]),
    Route("/v1/images/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/v1/images/jobs/{job_id}/cancel", cancel_job, methods=["POST"]),
]
