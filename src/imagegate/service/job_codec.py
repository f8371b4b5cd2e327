"""What a job keeps in the database and what a client sees of it (docs/jobs.md).

- ``request_document`` / ``request_from_document``: the parsed ``ImageRequest`` as JSON without
  image bytes (input images are stored objects; the document names them by index);
- ``principal_document``: who submitted the job (the key's stored hash, to authenticate it again at run time);
- ``job_object``: the job as its API and its webhook events show it (modelled on OpenAI's video
  jobs), with fresh signed URLs for the result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from imagegate.accounting.auth import Principal
from imagegate.accounting.jobs import JobRecord
from imagegate.domain.money import usd_string
from imagegate.domain.request import ImageRequest, InputImage

# Fields copied as they are; images and mask are stored objects, ``stream`` is never set on a job.
_PLAIN_FIELDS = tuple(f.name for f in dataclasses.fields(ImageRequest) if f.name not in ("images", "mask", "stream"))


def request_document(request: ImageRequest) -> tuple[dict[str, Any], list[InputImage]]:
    """The request as JSON-ready data, and its input images (mask last) to store apart."""
    document = {name: getattr(request, name) for name in _PLAIN_FIELDS}
    document["images"] = [{"filename": image.filename, "content_type": image.content_type} for image in request.images]
    document["mask"] = (
        None if request.mask is None else {"filename": request.mask.filename, "content_type": request.mask.content_type}
    )
    inputs = [*request.images, *([] if request.mask is None else [request.mask])]
    return document, inputs


def request_from_document(document: dict[str, Any], inputs: Sequence[bytes]) -> ImageRequest:
    """The request back, with the stored input images' bytes (in ``request_document``'s order)."""
    fields = {name: document[name] for name in _PLAIN_FIELDS if name in document}
    images = [
        InputImage(data=data, filename=meta["filename"], content_type=meta["content_type"])
        for meta, data in zip(document["images"], inputs, strict=False)
    ]
    mask_meta = document.get("mask")
    mask = None
    if mask_meta is not None:
        mask = InputImage(data=inputs[-1], filename=mask_meta["filename"], content_type=mask_meta["content_type"])
    return ImageRequest(**fields, images=images, mask=mask)


def principal_document(principal: Principal, key_digest: str) -> dict[str, Any]:
    """Who submitted the job: the key's stored hash (the job runs as that key, re-checked at run
    time: revoked keys' jobs do not run, and limits are the key's current ones) and, for reading, its names."""
    return {
        "key_hash": key_digest,
        "key_id": principal.key_id,
        "key_name": principal.key_name,
        "team_id": principal.team_id,
        "team_name": principal.team_name,
    }


def _unix(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def job_object(job: JobRecord, urls: Sequence[str]) -> dict[str, Any]:
    """The job as clients and webhook receivers see it; ``urls`` are the result images' signed URLs."""
    result = job.result
    body: dict[str, Any] = {
        "id": job.id,
        "object": "image.job",
        "status": job.status,
        "model": job.model,
        "operation": job.operation,
        "created_at": _unix(job.created_at),
        "completed_at": _unix(job.completed_at),
        "expires_at": _unix(job.expires_at),
        "error": job.error,
        "usage": None if result is None else result.get("usage"),
        "cost": None
        if job.cost_micros is None
        else {"usd": usd_string(job.cost_micros), "micros": job.cost_micros, "estimated": bool(job.cost_estimated)},
        "metadata": job.metadata,
        "webhook": job.webhook_id,
        "request_id": job.request_id,
        "result": None,
    }
    if result is not None:
        images = []
        for stored, url in zip(result["images"], urls, strict=True):
            image = {"url": url}
            if stored.get("revised_prompt") is not None:
                image["revised_prompt"] = stored["revised_prompt"]
            images.append(image)
        rendered: dict[str, Any] = {"created": result["created"], "data": images}
        for name in ("background", "output_format", "quality", "size", "usage"):
            if result.get(name) is not None:
                rendered[name] = result[name]
        body["result"] = rendered
    return body
