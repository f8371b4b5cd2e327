"""Which routes may serve a Responses API request (operation ``respond``), and as what.

A route whose adapter ``speaks_responses`` receives the client's body as sent. Any other route
serves it only by emulation, when the operator enabled it for the alias (``responses_emulation``)
and the request's only purpose is one image: the image tool forced by ``tool_choice``, no
conversation state (``previous_response_id``, ``conversation``, earlier items), no other tool and
no field an Images call cannot honour. The route then receives the equivalent Images request and
the dialect answers a Responses object built from its result (docs/responses.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from imagegate.domain.errors import InvalidRequest
from imagegate.domain.request import ImageRequest
from imagegate.routing.table import ModelAlias

# Top-level fields an emulated request may carry: they ask nothing an Images call cannot do.
_EMULATABLE_FIELDS = frozenset({"model", "input", "tools", "tool_choice", "stream", "store", "metadata", "user"})
# Image tool options an Images request carries (the rest, e.g. ``svg``, need the native tool).
_EMULATABLE_TOOL_OPTIONS = frozenset(
    {
        "type",
        "action",
        "background",
        "input_fidelity",
        "input_image_mask",
        "model",
        "moderation",
        "output_compression",
        "output_format",
        "partial_images",
        "quality",
        "size",
    }
)


def _why_not_one_image(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """(param, reason) when the request is more than one image; None when it is only that."""
    for name in body:
        if name not in _EMULATABLE_FIELDS:
            return name, f"'{name}' needs a model that speaks the Responses API"
    choice = body.get("tool_choice")
    if not (isinstance(choice, Mapping) and choice.get("type") == "image_generation"):
        return "tool_choice", "only a forced image_generation tool_choice can be served from an image model"
    tools = body.get("tools") or []
    if len(tools) != 1:
        return "tools", "only the image_generation tool can be served from an image model"
    for option in tools[0]:
        if option not in _EMULATABLE_TOOL_OPTIONS:
            return f"tools[0].{option}", f"'{option}' needs a model that speaks the Responses API"
    mask = tools[0].get("input_image_mask")
    if isinstance(mask, Mapping) and mask.get("image_url") is None:
        return "tools[0].input_image_mask", "a mask by file_id needs a model that speaks the Responses API"
    items = body.get("input")
    for index, item in enumerate(items if isinstance(items, list) else []):
        if (
            not isinstance(item, Mapping)
            or item.get("role", "user") != "user"
            or item.get("type", "message") != "message"
        ):
            return f"input[{index}]", "earlier turns need a model that speaks the Responses API"
        refused = _unsent_image(item, index)
        if refused is not None:
            return refused
    return None


def _unsent_image(item: Mapping[str, Any], index: int) -> tuple[str, str] | None:
    """An ``input_image`` the gateway does not hold (a URL or a file id): an Images route would not get it."""
    content = item.get("content")
    for position, part in enumerate(content if isinstance(content, list) else []):
        if not isinstance(part, Mapping) or part.get("type") != "input_image":
            continue
        url = part.get("image_url")
        if not (isinstance(url, str) and url.startswith("data:")):
            param = f"input[{index}].content[{position}]"
            return param, "only data URL images can be sent to an image model (not URLs or file ids)"
    return None


def emulated_request(request: ImageRequest, alias: ModelAlias) -> ImageRequest:
    """The Images request an emulating route receives; ``InvalidRequest`` naming why not otherwise."""
    if not alias.responses_emulation:
        raise InvalidRequest(
            f"Model '{alias.name}' cannot serve the Responses API: its routes speak only an Images API "
            "(an operator may enable responses_emulation for it).",
            param="model",
        )
    body = request.native if request.native is not None else {}
    refused = _why_not_one_image(body)
    if refused is not None:
        param, reason = refused
        raise InvalidRequest(f"Model '{alias.name}' serves the Responses API by emulation: {reason}.", param=param)
    return dataclasses.replace(
        request, operation="edit" if request.images else "generate", native=None, tool_model=None
    )
