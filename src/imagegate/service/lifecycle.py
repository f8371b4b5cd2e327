"""Model lifecycle at request time: refuse a shut-down model, or serve its replacement.

The catalog says when a provider model is deprecated and shut down and what replaces it
(``catalog.model.Lifecycle``). Before shutdown the model is served as usual and the response says
so (``Deprecation``/``Sunset``/``Link`` headers, see ``api/lifecycle_headers``). From the shutdown
date on, the operator's ``after_shutdown`` choice for the route (or its model alias) applies:

- ``refuse`` (the default): the route is not called; alone, it fails with ``ModelRetired``
  naming the replacement (410 / ``NOT_FOUND`` depending on the dialect);
- ``replace``: the replacement model is called instead, on the same base URL and credentials,
  through whichever adapter serves it (Imagen 4 -> gemini-2.5-flash-image goes through the
  Gemini adapter). The ledger's ``provider_model`` is then the replacement actually called.

"Today" comes from an injected clock: these functions are pure.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Literal

from imagegate.catalog.model import Lifecycle
from imagegate.domain.errors import ModelRetired
from imagegate.providers.base import RouteTarget

AfterShutdown = Literal["refuse", "replace"]
AFTER_SHUTDOWN_OPTION = "after_shutdown"
DEFAULT_AFTER_SHUTDOWN: AfterShutdown = "refuse"


def shutdown_policy(target: RouteTarget, lifecycle: Lifecycle | None, today: date) -> AfterShutdown | None:
    """None while the model is live; the route's ``after_shutdown`` choice once it is shut down."""
    if lifecycle is None or not lifecycle.is_shut_down(today):
        return None
    choice = target.options.get(AFTER_SHUTDOWN_OPTION, DEFAULT_AFTER_SHUTDOWN)
    return "replace" if choice == "replace" else "refuse"


def retired(target: RouteTarget, lifecycle: Lifecycle, *, unavailable_replacement: bool = False) -> ModelRetired:
    """The error for a refused (or unreplaceable) shut-down model, naming what to use instead."""
    when = "" if lifecycle.shutdown_on is None else f" on {lifecycle.shutdown_on.isoformat()}"
    message = f"The model '{target.model}' was shut down by its provider{when}."
    if lifecycle.replacement is not None:
        if unavailable_replacement:
            message += f" Its replacement '{lifecycle.replacement}' is not available on this route."
        else:
            message += f" Use '{lifecycle.replacement}' instead."
    return ModelRetired(
        message, model=target.model, shutdown_on=lifecycle.shutdown_on, replacement=lifecycle.replacement
    )


def replacement_target(target: RouteTarget, provider: str, model: str) -> RouteTarget:
    """The same deployment (URL, credentials, options) calling ``model`` through ``provider``."""
    return dataclasses.replace(target, provider=provider, model=model)
