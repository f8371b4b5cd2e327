"""Every transport's routes in one table, and the one path two dialects share.

``GET /v1/models`` and ``GET /v1/models/{model}`` are OpenAI's model list, and also where
google-genai 3.x lists models (authenticating the Google way). The choice between the two
dialects is made here, so neither dialect package imports the other.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from imagegate.api.admin import keys as admin_keys
from imagegate.api.admin import report as admin_report
from imagegate.api.admin import routes as admin_routes
from imagegate.api.google import gemini, vertex
from imagegate.api.http import speaks_google
from imagegate.api.openai import images as openai_images
from imagegate.api.public import estimate, feedback, pricing


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
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{target}", retrieve_model, methods=["GET"]),
        *gemini.routes,
        *vertex.routes,
        *admin_keys.routes,
        *admin_routes.routes,
        *admin_report.routes,
        *feedback.routes,
        *pricing.routes,
        *estimate.routes,
    ]
