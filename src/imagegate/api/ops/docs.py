"""``GET /openapi.json`` (the API description) and ``GET /docs`` (Swagger UI, vendored: works offline).

The document is built from the app's own routes (``request.app.routes``), so whatever the
gateway serves is listed, and cached per app after the first request.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from imagegate.api.ops.openapi_doc import build_document
from imagegate.api.ops.operations import ERROR_SCHEMAS, OPERATIONS, SECURITY_SCHEMES, TAGS

VERSION = "0.1.0"
INFO = {
    "title": "imagegate",
    "version": VERSION,
    "description": (
        "A self-hostable gateway for image-generation APIs: the OpenAI Images API, the Gemini API, Imagen "
        "and Vertex AI paths, with one imagegate key; plus the admin, pricing, estimate and operations endpoints."
    ),
    "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
}
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "init.js": "text/javascript",
    "LICENSE": "text/plain",
    "NOTICE": "text/plain",
    "swagger-ui-bundle.js.LICENSE.txt": "text/plain",
}
# Scripts and styles from this origin only: the page needs nothing from the network.
PAGE_POLICY = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>imagegate API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script>
</body>
</html>
"""


def openapi_document(request: Request) -> dict[str, Any]:
    """The OpenAPI document of the app serving ``request`` (built once per app)."""
    cached: dict[str, Any] | None = request.app.state.openapi
    if cached is None:
        cached = build_document(
            request.app.routes,
            OPERATIONS,
            info=INFO,
            components={"securitySchemes": SECURITY_SCHEMES, "schemas": ERROR_SCHEMAS},
            tags=TAGS,
        )
        request.app.state.openapi = cached
    return cached


async def openapi_json(request: Request) -> Response:
    """``GET /openapi.json``: the OpenAPI 3.1 description of every endpoint served."""
    return Response(orjson.dumps(openapi_document(request)), media_type="application/json")


async def docs_page(request: Request) -> Response:
    """``GET /docs``: Swagger UI over ``/openapi.json``."""
    return HTMLResponse(PAGE, headers={"content-security-policy": PAGE_POLICY})


async def docs_asset(request: Request) -> Response:
    """``GET /docs/assets/{name}``: one of Swagger UI's files shipped in the package (a fixed list)."""
    name = request.path_params["name"]
    media_type = ASSETS.get(name)
    if media_type is None:
        return Response("Not found", status_code=404, media_type="text/plain")
    content = files("imagegate.api.ops").joinpath("swagger_ui", name).read_bytes()
    return Response(content, media_type=media_type, headers={"cache-control": "public, max-age=86400"})


routes = [
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs_page, methods=["GET"]),
    Route("/docs/assets/{name}", docs_asset, methods=["GET"]),
]
