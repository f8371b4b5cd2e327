"""Vertex AI's paths for the Google dialects, so google-genai in Vertex mode can use the gateway.

``POST /{v1|v1beta1}/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}``
with ``generateContent``, ``streamGenerateContent?alt=sse`` or ``predict``: the same bodies as the
Gemini API's ``/models/{model}:{method}``, served by the same handlers (``api/google/gemini`` and
``api/google/imagen``); only the key's transport and refusals differ (``api/google/surface``).
``{model}`` is an imagegate alias. The project and location name a Google Cloud project the gateway
does not use: they are accepted as sent and ignored, since the route decides where a request goes.
The publisher must be ``google`` (anything else is Google's ``NOT_FOUND``).

Vertex "express mode" clients (an API key, no project) call the same methods without the
``projects/{p}/locations/{l}/`` prefix; ``models.get`` and ``models.list`` call
``GET /{version}/publishers/google/models[/{model}]``. All are served here.

The imagegate key travels as the OAuth bearer token (``Authorization: Bearer <key>``); a missing
or refused key is 401 ``UNAUTHENTICATED``, as Vertex AI answers.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from imagegate.api.google import gemini
from imagegate.api.google.errors import error_response
from imagegate.api.google.surface import VERTEX_AI
from imagegate.api.http import new_request_id
from imagegate.domain.errors import ModelNotFound

API_VERSIONS = ("v1", "v1beta1")
PUBLISHER = "google"


def _unknown_publisher(request: Request) -> Response | None:
    """Google's ``NOT_FOUND`` for a publisher other than ``google``; None when it is ``google``."""
    publisher = request.path_params["publisher"]
    if publisher == PUBLISHER:
        return None
    error = ModelNotFound(
        f"Publisher '{publisher}' is not served by this gateway; name an imagegate model as "
        f"publishers/{PUBLISHER}/models/<model>.",
        param="model",
    )
    return error_response(error, new_request_id(), VERTEX_AI)


async def model_action(request: Request) -> Response:
    """``POST .../publishers/google/models/{model}:{method}``: the Gemini API's handlers, Vertex-flavoured."""
    refusal = _unknown_publisher(request)
    if refusal is not None:
        return refusal
    return await gemini.model_action(request, VERTEX_AI)


async def get_model(request: Request) -> Response:
    """``GET .../publishers/google/models/{model}``: one alias in Vertex's ``PublisherModel`` shape."""
    refusal = _unknown_publisher(request)
    if refusal is not None:
        return refusal
    return await gemini.get_model(request, VERTEX_AI)


async def list_models(request: Request) -> Response:
    """``GET /{version}/publishers/google/models``: the aliases this key may use."""
    refusal = _unknown_publisher(request)
    if refusal is not None:
        return refusal
    return await gemini.list_models(request, VERTEX_AI)


def _routes() -> list[BaseRoute]:
    table: list[BaseRoute] = []
    for version in API_VERSIONS:
        for scope in (f"/{version}/projects/{{project}}/locations/{{location}}", f"/{version}"):
            models = f"{scope}/publishers/{{publisher}}/models"
            table.append(Route(f"{models}/{{target}}", model_action, methods=["POST"]))
            table.append(Route(f"{models}/{{target}}", get_model, methods=["GET"]))
            table.append(Route(models, list_models, methods=["GET"]))
    return table


routes = _routes()
