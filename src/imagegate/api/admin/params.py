"""Query and body parameters the admin endpoints share, refused with a 400 naming the parameter."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import QueryParams

from imagegate.domain.errors import InvalidRequest
from imagegate.service.report import parse_when

M = TypeVar("M", bound=BaseModel)


def time_param(query: QueryParams, name: str) -> datetime | None:
    """``?name=``: an ISO time or a span back from now (``7d``); None when absent."""
    try:
        return parse_when(query.get(name))
    except ValueError as exc:
        raise InvalidRequest(f"'{name}': {exc}", param=name) from None


def parse_body(model: type[M], raw: bytes) -> M:
    """A JSON body validated by ``model``; the first problem becomes a 400 naming its field."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        raise InvalidRequest(f"Invalid value for '{param}': {first['msg']}.", param=param) from None
