"""The two Google APIs a Google-dialect client may believe it is talking to: the Gemini API and Vertex AI.

Both carry the same bodies (``generateContent``, ``streamGenerateContent``, ``predict``) and the same
error shape; they differ in what the gateway must imitate around them:

- how a key travels and how a missing or refused one is answered: the Gemini API takes
  ``x-goog-api-key`` and answers 403 ``PERMISSION_DENIED`` (no key) or 400 ``INVALID_ARGUMENT``
  (refused key); Vertex AI takes an OAuth bearer token (here: the imagegate key) and answers 401
  ``UNAUTHENTICATED`` to both, which google-genai raises as ``ClientError`` with code 401;
- how a model is named and listed: ``models/{id}`` in ``{"models": [...]}`` on the Gemini API,
  ``publishers/google/models/{id}`` in ``{"publisherModels": [...]}`` on Vertex AI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request


@dataclass(frozen=True)
class KeyAnswer:
    """An HTTP status, Google RPC status and message for a key problem."""

    status: int
    rpc: str
    message: str


@dataclass(frozen=True)
class GoogleSurface:
    """What differs between the Gemini API and Vertex AI for the same dialect (see the module docstring)."""

    name: str
    missing_key: KeyAnswer
    # The status for a key the gateway refuses; the message is the domain error's own.
    refused_key_status: int
    refused_key_rpc: str
    model_entry: Callable[[str, str | None], dict[str, object]]
    models_field: str


def _gemini_model_entry(name: str, description: str | None) -> dict[str, object]:
    entry: dict[str, object] = {
        "name": f"models/{name}",
        "baseModelId": name,
        "version": "imagegate",
        "displayName": name,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "predict"],
    }
    if description is not None:
        entry["description"] = description
    return entry


def _vertex_model_entry(name: str, description: str | None) -> dict[str, object]:
    entry: dict[str, object] = {
        "name": f"publishers/google/models/{name}",
        "versionId": "imagegate",
        "displayName": name,
    }
    if description is not None:
        entry["description"] = description
    return entry


GEMINI_API = GoogleSurface(
    name="gemini-api",
    missing_key=KeyAnswer(
        403,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Send your imagegate key in the x-goog-api-key header or the key query parameter.",
    ),
    refused_key_status=400,
    refused_key_rpc="INVALID_ARGUMENT",
    model_entry=_gemini_model_entry,
    models_field="models",
)

VERTEX_AI = GoogleSurface(
    name="vertex-ai",
    missing_key=KeyAnswer(
        401,
        "UNAUTHENTICATED",
        "Request is missing required authentication credential. "
        "Send your imagegate key as the bearer token (Authorization: Bearer <key>).",
    ),
    refused_key_status=401,
    refused_key_rpc="UNAUTHENTICATED",
    model_entry=_vertex_model_entry,
    models_field="publisherModels",
)


def models_path(request: Request) -> str:
    """Where this client's API lists models, from the request's own path, ending in ``/models/``.

    ``/v1beta/models/``, ``/v1/models/`` or, on Vertex AI paths,
    ``/v1beta1/projects/{p}/locations/{l}/publishers/google/models/``: a ``Link`` to a successor
    model then points into the API the client is using.
    """
    path = request.url.path
    head, found, _ = path.rpartition("/models")
    return (head if found else path.rstrip("/")) + "/models/"
