"""Declarative parameter tables: canonical field -> provider field, applied by one engine.

A provider declares, per canonical field of :class:`ImageRequest`, either the wire name it maps to
(with an optional transform), or that it cannot be honoured. Nothing is silently dropped: a field
the table does not map is rejected with a 400 naming the client's own parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from imagegate.domain.errors import InvalidRequest
from imagegate.domain.request import ImageRequest

Transform = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Param:
    """One row of a parameter table.

    ``wire`` is the provider's field name (``None``: the provider cannot honour this field and a
    request carrying it is rejected). ``transform`` converts the canonical value.
    """

    canonical: str
    wire: str | None
    transform: Transform | None = None
    reason: str | None = None


class ParameterTable:
    """Applies a provider's declared mapping to a request's scalar fields."""

    def __init__(self, params: Iterable[Param]) -> None:
        self.params = tuple(params)

    def apply(self, request: ImageRequest, provider_model: str) -> dict[str, Any]:
        """The provider's fields for every canonical field the request sets."""
        wire: dict[str, Any] = {}
        for param in self.params:
            value = getattr(request, param.canonical)
            if value is None or value is False:
                continue
            if param.wire is None:
                why = f": {param.reason}" if param.reason is not None else ""
                raise InvalidRequest(
                    f"'{request.param_name(param.canonical)}' is not supported by {provider_model}{why}",
                    param=request.param_name(param.canonical),
                )
            wire[param.wire] = value if param.transform is None else param.transform(value)
        return wire
