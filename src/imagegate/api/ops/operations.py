"""How each endpoint is documented in ``/openapi.json``: one ``OperationDoc`` per (method, path).

A new endpoint adds its entry here (the document lists it either way, from its docstring).
Bodies reuse the endpoints' own pydantic models; the Google dialects' bodies are Google's
(``generateContent``'s ``contents``/``generationConfig``, ``predict``'s ``instances``/``parameters``),
described in outline with a link to Google's reference.
"""

from __future__ import annotations

from typing import Any

from imagegate.api.admin.governance import KeyBody
from imagegate.api.admin.routes import PolicyBody, WeightBody
from imagegate.api.google.vertex import API_VERSIONS
from imagegate.api.openai.parse import ImageParams
from imagegate.api.ops.openapi_doc import OperationDoc
from imagegate.api.public.feedback import FeedbackBody
from imagegate.service.estimate import EstimateSpec

KEY = ("bearerKey",)
GOOGLE_KEY = ("googleApiKey", "googleApiKeyQuery", "bearerKey")
MASTER = ("masterKey",)
IMAGE_ANSWERS = ("application/json", "text/event-stream")
OPENAI_ERRORS = {
    400: "Invalid request (the parameter is named)",
    401: "Missing or unknown key",
    403: "Model not allowed",
}
PROVIDER_ERRORS = {429: "Rate limited (Retry-After)", 502: "Provider failure", 503: "Unavailable", 504: "Timed out"}
GOOGLE_ERRORS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}

EDIT_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["prompt", "image[]"],
    "properties": {
        "prompt": {"type": "string"},
        "model": {"type": "string"},
        "image[]": {"type": "array", "items": {"type": "string", "format": "binary"}},
        "mask": {"type": "string", "format": "binary"},
        "n": {"type": "integer"},
        "size": {"type": "string"},
        "quality": {"type": "string"},
        "input_fidelity": {"type": "string"},
    },
    "additionalProperties": True,
}
GENERATE_CONTENT_BODY: dict[str, Any] = {
    "type": "object",
    "description": "Gemini's GenerateContentRequest: https://ai.google.dev/api/generate-content",
    "required": ["contents"],
    "properties": {
        "contents": {"type": "array", "items": {"type": "object"}},
        "generationConfig": {"type": "object", "description": "imageConfig: aspectRatio, imageSize"},
    },
    "additionalProperties": True,
}
PREDICT_BODY: dict[str, Any] = {
    "type": "object",
    "description": "Imagen's predict request: {instances: [{prompt}], parameters: {sampleCount, aspectRatio, ...}}",
    "required": ["instances"],
    "properties": {"instances": {"type": "array", "items": {"type": "object"}}, "parameters": {"type": "object"}},
    "additionalProperties": True,
}
ALT = {"name": "alt", "in": "query", "required": False, "schema": {"type": "string", "enum": ["sse"]}}


def _google_action(summary: str, tag: str) -> OperationDoc:
    return OperationDoc(
        summary=summary,
        tag=tag,
        description=(
            "`{target}` is `MODEL:METHOD`: `generateContent`, `streamGenerateContent?alt=sse` (Gemini) or "
            "`predict` (Imagen). The body is the method's request; the answer is Google's."
        ),
        security=GOOGLE_KEY,
        body={"oneOf": [GENERATE_CONTENT_BODY, PREDICT_BODY]},
        responses={200: "The method's answer (SSE for streamGenerateContent)", **GOOGLE_ERRORS},
        response_types=IMAGE_ANSWERS,
        error_schema="GoogleError",
        parameters=(ALT,),
    )


def _google_read(summary: str, tag: str) -> OperationDoc:
    return OperationDoc(
        summary=summary,
        tag=tag,
        security=GOOGLE_KEY,
        responses={200: "OK", **GOOGLE_ERRORS},
        error_schema="GoogleError",
    )


def _vertex() -> dict[tuple[str, str], OperationDoc]:
    table: dict[tuple[str, str], OperationDoc] = {}
    for version in API_VERSIONS:
        for scope in (f"/{version}/projects/{{project}}/locations/{{location}}", f"/{version}"):
            models = f"{scope}/publishers/{{publisher}}/models"
            table["POST", f"{models}/{{target}}"] = _google_action("Vertex AI: generate (Gemini or Imagen)", "vertex")
            table["GET", f"{models}/{{target}}"] = _google_read("Vertex AI: one model", "vertex")
            table["GET", models] = _google_read("Vertex AI: the models this key may use", "vertex")
    return table


def _admin(summary: str, body: Any = None, *, extra: dict[int, str] | None = None) -> OperationDoc:
    responses = {200: "OK", 401: "Not the master key", 404: "Admin API off (no master key) or unknown name"}
    return OperationDoc(
        summary=summary, tag="admin", security=MASTER, body=body, responses={**responses, **(extra or {})}
    )


OPERATIONS: dict[tuple[str, str], OperationDoc] = {
    ("POST", "/v1/images/generations"): OperationDoc(
        summary="Generate images (OpenAI Images API)",
        tag="openai",
        description="JSON body as OpenAI's; `stream: true` answers server-sent events (`partial_images`).",
        security=KEY,
        body=ImageParams,
        responses={200: "Images (JSON, or SSE when streamed)", **OPENAI_ERRORS, **PROVIDER_ERRORS},
        response_types=IMAGE_ANSWERS,
    ),
    ("POST", "/v1/images/edits"): OperationDoc(
        summary="Edit images (OpenAI Images API)",
        tag="openai",
        security=KEY,
        body=EDIT_BODY,
        body_type="multipart/form-data",
        responses={200: "Images (JSON, or SSE when streamed)", **OPENAI_ERRORS, **PROVIDER_ERRORS},
        response_types=IMAGE_ANSWERS,
    ),
    ("POST", "/v1/imagegate/batches"): OperationDoc(
        summary="Submit a batch through the provider's Batch API (docs/batch.md)",
        tag="batches",
        description="Body: JSONL, one `/v1/images/generations` body per line with an optional `custom_id`; "
        "`?model=ALIAS` (required). Every line is validated before anything is sent.",
        security=KEY,
        body={"type": "string", "description": "JSONL batch file"},
        body_type="application/jsonl",
        parameters=({"name": "model", "in": "query", "required": True, "schema": {"type": "string"}},),
        responses={200: "The batch", **OPENAI_ERRORS, **PROVIDER_ERRORS},
    ),
    ("GET", "/v1/imagegate/batches/{batch_id}"): OperationDoc(
        summary="Poll a batch (settled into the ledger once final)",
        tag="batches",
        security=KEY,
        responses={200: "The batch", 401: "Missing or unknown key", 404: "No such batch for this key"},
    ),
    ("POST", "/v1/imagegate/batches/{batch_id}/cancel"): OperationDoc(
        summary="Cancel a batch",
        tag="batches",
        security=KEY,
        responses={200: "The batch", 401: "Missing or unknown key", 404: "No such batch for this key"},
    ),
    ("GET", "/v1/imagegate/batches/{batch_id}/results"): OperationDoc(
        summary="A final batch's results: per request status, cost and images",
        tag="batches",
        security=KEY,
        responses={200: "Results", 400: "Still running", 401: "Missing or unknown key", 404: "No such batch"},
    ),
    ("POST", "/v1/images/variations"): OperationDoc(
        summary="Variations: retired upstream, always a 400 pointing to edits", tag="openai", responses={400: "Retired"}
    ),
    ("POST", "/v1/images/feedback"): OperationDoc(
        summary="Record whether an image was kept (for cost per accepted image)",
        tag="public",
        security=KEY,
        body=FeedbackBody,
        responses={200: "Recorded", 400: "Invalid body", 401: "Missing or unknown key", 404: "Unknown request id"},
    ),
    ("GET", "/v1/models"): OperationDoc(
        summary="Models this key may use (OpenAI's list; Google's with a Google-style key)",
        tag="openai",
        security=(*KEY, "googleApiKey", "googleApiKeyQuery"),
        responses={200: "OK", 401: "Missing or unknown key"},
    ),
    ("GET", "/v1/models/{target}"): OperationDoc(
        summary="One model (OpenAI's model card; Google's models.get with a Google-style key)",
        tag="openai",
        security=(*KEY, "googleApiKey", "googleApiKeyQuery"),
        responses={200: "OK", 400: "Unknown model", 401: "Missing or unknown key", 403: "Model not allowed"},
    ),
    ("POST", "/v1/models/{target}"): _google_action("Gemini API (google-genai 3.x): generate", "google"),
    ("GET", "/v1beta/models"): _google_read("Gemini API: the models this key may use", "google"),
    ("GET", "/v1beta/models/{target}"): _google_read("Gemini API: one model", "google"),
    ("POST", "/v1beta/models/{target}"): _google_action("Gemini API / Imagen: generate", "google"),
    **_vertex(),
    ("GET", "/admin/keys"): _admin("List keys (prefixes only, never secrets)"),
    ("POST", "/admin/keys"): _admin("Create a key; its secret is shown once", KeyBody, extra={409: "Name taken"}),
    ("DELETE", "/admin/keys/{name}"): _admin("Revoke a key"),
    ("GET", "/admin/routes"): _admin("Every alias and route: state, status, latency"),
    ("POST", "/admin/routes/{route}/disable"): _admin("Stop traffic to a route (every replica)"),
    ("POST", "/admin/routes/{route}/enable"): _admin("Resume traffic to a route"),
    ("POST", "/admin/routes/{route}/weight"): _admin("Set a route's weight", WeightBody),
    ("POST", "/admin/aliases/{alias}/policy"): _admin("Set an alias's routing policy", PolicyBody),
    ("POST", "/admin/aliases/{alias}/rollback"): _admin("Undo an alias's last routing change", extra={409: "Nothing"}),
    ("GET", "/admin/routing-changes"): _admin("The routing change log"),
    ("GET", "/api/report"): _admin("Spend, acceptance and cost per accepted image (?by=model|route|key&since=)"),
    ("GET", "/api/pricing"): OperationDoc(
        summary="Every model and route with unit, rates, per-image prices, lifecycle and status",
        tag="public",
        description="Public unless IMAGEGATE_PUBLIC_PRICING=false (then any imagegate key).",
        responses={200: "OK", 401: "A key is required here"},
    ),
    ("POST", "/api/estimate"): OperationDoc(
        summary="Cost per request, image, accepted image and month, side by side",
        tag="public",
        body=EstimateSpec,
        responses={200: "OK", 400: "Invalid body"},
    ),
    ("GET", "/files/{key}"): OperationDoc(
        summary="A stored image at the signed, expiring link a URL response gave (local storage)",
        tag="public",
        parameters=(
            {"name": "expires", "in": "query", "required": True, "schema": {"type": "integer"}},
            {"name": "sig", "in": "query", "required": True, "schema": {"type": "string"}},
        ),
        responses={200: "The image", 403: "Bad or expired signature", 404: "No such image"},
        response_types=("image/png", "image/jpeg", "image/webp"),
    ),
    ("GET", "/metrics"): OperationDoc(
        summary="Prometheus metrics (text exposition)",
        tag="operations",
        description="IMAGEGATE_METRICS=open (default, no key) | key (master or admin-read key) | off (404).",
        security=("masterKey", "bearerKey"),
        optional_auth=True,
        responses={200: "Metrics", 401: "A reader key is required", 403: "Not a reader key", 404: "Metrics off"},
        response_types=("text/plain",),
    ),
    ("GET", "/readyz"): OperationDoc(
        summary="Readiness: 503 while the database (or Redis, when configured) is unreachable",
        tag="operations",
        responses={200: "Ready", 503: "A dependency is unavailable"},
    ),
    ("GET", "/healthz"): OperationDoc(summary="Liveness: 200 while the process serves", tag="operations"),
    ("GET", "/openapi.json"): OperationDoc(summary="This document", tag="operations"),
    ("GET", "/docs"): OperationDoc(
        summary="Interactive documentation (Swagger UI)", tag="operations", response_types=("text/html",)
    ),
    ("GET", "/docs/assets/{name}"): OperationDoc(
        summary="Swagger UI's vendored assets", tag="operations", responses={200: "OK", 404: "No such asset"}
    ),
}

TAGS = (
    {"name": "openai", "description": "The OpenAI Images API (the `openai` SDK with base_url .../v1)."},
    {"name": "google", "description": "The Gemini API and Imagen's predict (google-genai)."},
    {"name": "vertex", "description": "Vertex AI paths (google-genai with vertexai=True); project/location ignored."},
    {"name": "public", "description": "Prices, estimates and image feedback."},
    {"name": "admin", "description": "Keys, routing and reports, with the master key."},
    {"name": "operations", "description": "Health, readiness, metrics and this description."},
)

SECURITY_SCHEMES: dict[str, Any] = {
    "bearerKey": {"type": "http", "scheme": "bearer", "description": "An imagegate key (ig-...)."},
    "googleApiKey": {"type": "apiKey", "in": "header", "name": "x-goog-api-key", "description": "An imagegate key."},
    "googleApiKeyQuery": {"type": "apiKey", "in": "query", "name": "key", "description": "An imagegate key."},
    "masterKey": {"type": "http", "scheme": "bearer", "description": "IMAGEGATE_MASTER_KEY."},
}
ERROR_SCHEMAS: dict[str, Any] = {
    "OpenAIError": {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": {"type": ["string", "null"]},
                    "code": {"type": ["string", "null"]},
                },
            }
        },
    },
    "GoogleError": {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "integer"},
                    "message": {"type": "string"},
                    "status": {"type": "string"},
                    "details": {"type": "array", "items": {"type": "object"}},
                },
            }
        },
    },
}
