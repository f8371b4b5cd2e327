"""The OpenAPI 3.1 document, generated from the routes the app serves plus a table of operation docs.

Every route of the app appears (so the document cannot drift from what is served): a route the
table describes gets its summary, security, body schema and responses from there; any other gets
its endpoint's docstring as summary and the generic answers. A new endpoint (jobs, responses)
documents itself by adding one ``OperationDoc`` to the table in ``api/ops/operations.py``; body
schemas come from the endpoint's pydantic model where it has one.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from starlette.routing import BaseRoute, Route

_PARAM = re.compile(r"{([^}:]+)(:[^}]+)?}")
REF = "#/components/schemas/{model}"


@dataclass(frozen=True, slots=True)
class OperationDoc:
    """How one method on one path is documented.

    ``body`` is a pydantic model (its JSON Schema becomes a component) or a JSON Schema given as
    is; ``security`` names schemes of ``components.securitySchemes``; ``responses`` maps status
    codes to descriptions, with ``response_types`` the media type of the success answers.
    """

    summary: str
    tag: str
    description: str | None = None
    security: tuple[str, ...] = ()
    optional_auth: bool = False
    body: type[BaseModel] | Mapping[str, Any] | None = None
    body_type: str = "application/json"
    responses: Mapping[int, str] = field(default_factory=lambda: {200: "OK"})
    response_types: tuple[str, ...] = ("application/json",)
    error_schema: str = "OpenAIError"
    parameters: tuple[Mapping[str, Any], ...] = ()


def openapi_path(path: str) -> str:
    """A Starlette path template as OpenAPI writes it (``{route:path}`` → ``{route}``)."""
    return _PARAM.sub(lambda match: "{" + match.group(1) + "}", path)


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name, _ in _PARAM.findall(path)
    ]


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")
    return f"{method.lower()}_{words}"


def _fallback(route: Route) -> OperationDoc:
    doc = inspect.getdoc(route.endpoint) or route.path
    summary, _, rest = doc.partition("\n")
    return OperationDoc(summary=summary.strip(), tag="other", description=rest.strip() or None)


class DocumentBuilder:
    """Collects component schemas while building operations."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def schema(self, body: type[BaseModel] | Mapping[str, Any]) -> dict[str, Any]:
        """A JSON Schema for a body: a pydantic model's as a ``$ref`` to its component."""
        if isinstance(body, Mapping):
            return dict(body)
        generated = body.model_json_schema(ref_template=REF)
        for name, definition in generated.pop("$defs", {}).items():
            self.schemas[name] = definition
        self.schemas[body.__name__] = generated
        return {"$ref": REF.format(model=body.__name__)}

    def operation(self, method: str, path: str, doc: OperationDoc) -> dict[str, Any]:
        """One operation object."""
        operation: dict[str, Any] = {
            "operationId": _operation_id(method, path),
            "summary": doc.summary,
            "tags": [doc.tag],
        }
        if doc.description is not None:
            operation["description"] = doc.description
        parameters = [*_path_parameters(path), *(dict(parameter) for parameter in doc.parameters)]
        if parameters:
            operation["parameters"] = parameters
        if doc.security:
            operation["security"] = [*([{}] if doc.optional_auth else []), *({name: []} for name in doc.security)]
        if doc.body is not None:
            operation["requestBody"] = {"required": True, "content": {doc.body_type: {"schema": self.schema(doc.body)}}}
        responses: dict[str, Any] = {}
        for status, description in doc.responses.items():
            answer: dict[str, Any] = {"description": description}
            if status < 300:
                answer["content"] = {media: {} for media in doc.response_types}
            else:
                answer["content"] = {"application/json": {"schema": {"$ref": REF.format(model=doc.error_schema)}}}
            responses[str(status)] = answer
        operation["responses"] = responses
        return operation


def build_document(
    routes: Iterable[BaseRoute],
    table: Mapping[tuple[str, str], OperationDoc],
    *,
    info: Mapping[str, Any],
    components: Mapping[str, Any],
    tags: Iterable[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """The OpenAPI document of ``routes``; ``table`` is keyed by (method, OpenAPI path), ``tags``
    orders and describes the groups."""
    builder = DocumentBuilder()
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route) or route.methods is None:
            continue  # mounts (static assets) are not operations
        path = openapi_path(route.path)
        for method in sorted(route.methods - {"HEAD"}):
            doc = table.get((method, path))
            paths.setdefault(path, {})[method.lower()] = builder.operation(
                method, path, doc if doc is not None else _fallback(route)
            )
    schemas = {**components.get("schemas", {}), **builder.schemas}
    return {
        "openapi": "3.1.0",
        "info": dict(info),
        "tags": [dict(tag) for tag in tags],
        "paths": paths,
        "components": {**components, "schemas": schemas},
    }
