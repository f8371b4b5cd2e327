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
- ``keep``: the operator still has access to the model (an extension, a private deployment, a
  proxy): the route is called as if the catalog listed no shutdown.

A refusal only suggests a replacement the gateway can serve (an alias of that name, or an alias
routing to that provider model); otherwise it names none, rather than send the client to a 404.

"Today" comes from an injected clock: these functions are pure.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Literal

from imagegate.catalog.model import Lifecycle
from imagegate.domain.errors import ModelRetired
from imagegate.providers.base import RouteTarget
from imagegate.routing.table import RouteTable

AfterShutdown = Literal["refuse", "replace", "keep"]
AFTER_SHUTDOWN_OPTION = "after_shutdown"
DEFAULT_AFTER_SHUTDOWN: AfterShutdown = "refuse"


def shutdown_policy(target: RouteTarget, lifecycle: Lifecycle | None, today: date) -> AfterShutdown | None:
    """None while the model is live (or kept alive); the route's ``after_shutdown`` choice once shut down."""
    if lifecycle is None or not lifecycle.is_shut_down(today):
        return None
    choice = target.options.get(AFTER_SHUTDOWN_OPTION, DEFAULT_AFTER_SHUTDOWN)
    if choice == "keep":
        return None
    return "replace" if choice == "replace" else "refuse"


def retired(
    target: RouteTarget,
    lifecycle: Lifecycle,
    *,
    unavailable_replacement: bool = False,
    served_as: str | None = None,
) -> ModelRetired:
    """The error for a refused (or unreplaceable) shut-down model.

    ``served_as`` is the alias under which this gateway serves the catalog's replacement; None when
    it serves none, and then no replacement is suggested (the client could not use it here).
    """
    when = "" if lifecycle.shutdown_on is None else f" on {lifecycle.shutdown_on.isoformat()}"
    message = f"The model '{target.model}' was shut down by its provider{when}."
    if lifecycle.replacement is not None and unavailable_replacement:
        message += f" Its replacement '{lifecycle.replacement}' is not available on this route."
    elif served_as is not None:
        message += f" Use '{served_as}' instead."
    return ModelRetired(message, model=target.model, shutdown_on=lifecycle.shutdown_on, replacement=served_as)


def serving_alias(routes: RouteTable, model: str | None) -> str | None:
    """The alias a client can send to get ``model``: an alias of that name, else one routing to it."""
    if model is None:
        return None
    names = {alias.name for alias in routes.aliases()}
    if model in names:
        return model
    for alias in routes.aliases():
        if any(target.model == model for target in alias.routes):
            return alias.name
    return None


def replacement_target(target: RouteTarget, provider: str, model: str) -> RouteTarget:
    """The same deployment (URL, credentials, options) calling ``model`` through ``provider``."""
    return dataclasses.replace(target, provider=provider, model=model)
