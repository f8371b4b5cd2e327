"""``response_format: "url"`` on the OpenAI Images dialect, for every model.

GPT Image only returns base64 and the Google models only inline data, so the gateway answers a
URL request itself: the field is taken out of the request (no provider sees it), the images are
stored (``service.image_storage``) and ``data[i]`` carries ``url`` and ``expires_at`` (unix
seconds) instead of ``b64_json``. ``b64_json`` stays the default and the zero-copy pass-through.
Streaming with ``url`` is refused: stream events carry the image itself.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import urljoin

import orjson
from starlette.requests import Request

from imagegate.accounting.auth import Principal
from imagegate.api.openai.render import translated_body
from imagegate.domain.errors import InvalidRequest
from imagegate.domain.image_store import StoredObject
from imagegate.domain.request import ImageRequest
from imagegate.service.image_storage import ImageStorage
from imagegate.service.images import Served


def storage_available(request: Request) -> ImageStorage | None:
    """The gateway's image storage, or None when it is switched off (``IMAGEGATE_STORAGE=none``)."""
    storage: ImageStorage | None = getattr(request.app.state, "image_storage", None)
    return storage


def url_response_request(request: Request, image_request: ImageRequest) -> tuple[ImageRequest, ImageStorage | None]:
    """The request to plan, and the storage to answer with URLs (None: answer as usual).

    Raises ``InvalidRequest`` naming ``response_format`` when URLs cannot be served.
    """
    if image_request.response_format != "url":
        return image_request, None
    storage = storage_available(request)
    if storage is None:
        raise InvalidRequest(
            "response_format 'url' is not available: this gateway has no image storage configured.",
            param="response_format",
        )
    if image_request.stream:
        raise InvalidRequest(
            "response_format 'url' cannot be combined with stream=true: stream events carry the image data.",
            param="response_format",
        )
    return dataclasses.replace(image_request, response_format=None), storage


async def stored_response(
    request: Request, storage: ImageStorage, served: Served, principal: Principal, request_id: str
) -> bytes:
    """Store the served images and render the ``ImagesResponse`` with their URLs."""
    stored = await storage.keep(
        served.result, key_prefix=f"images/{request_id}", team_name=principal.team_name, owner=f"key-{principal.key_id}"
    )
    body = translated_body(served.result)
    body["data"] = [_entry(request, item, image) for item, image in zip(stored, body["data"], strict=True)]
    return orjson.dumps(body)


def _entry(request: Request, stored: StoredObject, translated: dict[str, object]) -> dict[str, object]:
    entry: dict[str, object] = {
        # Local links are root-relative unless IMAGEGATE_PUBLIC_URL is set: complete them with the
        # address this client reached.
        "url": urljoin(str(request.base_url), stored.url),
        "expires_at": int(stored.expires_at.timestamp()),
    }
    if "revised_prompt" in translated:
        entry["revised_prompt"] = translated["revised_prompt"]
    return entry
