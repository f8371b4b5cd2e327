"""Every transport's routes in one table, and the one path two dialects share.

``GET /v1/models`` and ``GET /v1/models/{model}`` are OpenAI's model list, and also where
google-genai 3.x lists models (authenticating the Google way). The choice between the two
dialects is made here, so neither dialect package imports the other.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from imagegate.api import files
from imagegate.api.admin import governance as admin_governance
from imagegate.api.admin import report as admin_report
from imagegate.api.admin import routes as admin_routes
from imagegate.api.admin import spend as admin_spend
from imagegate.api.admin import usage as admin_usage
from imagegate.api.admin import webhooks as admin_webhooks
from imagegate.api.google import errors as google_errors
from imagegate.api.google import gemini, vertex
from imagegate.api.http import speaks_google
from imagegate.api.openai import batches as openai_batches
from imagegate.api.openai import errors as openai_errors
from imagegate.api.openai import images as openai_images
from imagegate.api.openai import jobs as openai_jobs
from imagegate.api.openai import responses as openai_responses
from imagegate.api.ops import docs, health, metrics
from imagegate.api.public import compare, estimate, feedback, pricing
from imagegate.domain.errors import ImagegateError

# Endpoints whose bodies carry images (the dialects' generate/edit calls); every other endpoint takes
# a small JSON body at most.
_IMAGE_PATHS = frozenset({"/v1/images/generations", "/v1/images/edits", "/v1/images/jobs", "/v1/responses"})
_GOOGLE_ACTION_PREFIXES = ("/v1beta/models/", "/v1/models/")


async def list_models(request: Request) -> Response:
    """``GET /v1/models``: OpenAI's list, or Google's for a Google-style key."""
    if speaks_google(request):
        return await gemini.list_models(request)
    return await openai_images.list_models(request)


async def retrieve_model(request: Request) -> Response:
    """``GET /v1/models/{model}``: OpenAI's model card, or Google's ``models.get``."""
    if speaks_google(request):
        return await gemini.get_model(request)
    return await openai_images.retrieve_model(request)


def all_routes() -> list[BaseRoute]:
    """The gateway's routes, dialects first, then the admin and public endpoints."""
    return [
        *openai_images.routes,
        *openai_jobs.routes,
        *openai_responses.routes,
        *openai_batches.routes,
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{target}", retrieve_model, methods=["GET"]),
        *gemini.routes,
        *vertex.routes,
        *admin_governance.routes,
        *admin_routes.routes,
        *admin_report.routes,
        *admin_usage.routes,
        *admin_spend.routes,
        *admin_webhooks.routes,
        *feedback.routes,
        *pricing.routes,
        *estimate.routes,
        *metrics.routes,
        *health.routes,
        *docs.routes,
        *files.routes,
        *compare.routes,
    ]


def carries_images(scope: Scope) -> bool:
    """Whether this request is a dialect's image call (large bodies allowed, counted in the in-flight budget)."""
    if scope.get("method") != "POST":
        return False
    path: str = scope["path"]
    return path in _IMAGE_PATHS or path.startswith(_GOOGLE_ACTION_PREFIXES)


def _google_dialect(scope: Scope) -> bool:
    path: str = scope["path"]
    if path.startswith("/v1beta/"):
        return True
    if path.startswith("/v1/models/") and scope.get("method") == "POST":
        return True  # only Google's :generateContent / :predict are POSTed there
    headers = Headers(scope=scope)
    return headers.get("x-goog-api-key") is not None or b"key=" in scope.get("query_string", b"")


def dialect_error_response(scope: Scope, error: ImagegateError, request_id: str) -> Response:
    """An error for a request no endpoint has answered yet (refused at the edge), in its client's dialect."""
    if _google_dialect(scope):
        return google_errors.error_response(error, request_id)
    return openai_errors.error_response(error, request_id)
