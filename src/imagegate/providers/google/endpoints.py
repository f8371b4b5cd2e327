"""Where a Google route's requests go and how they are authenticated: Gemini API or Vertex AI.

The route's ``base_url`` follows the Google SDK convention: the host root
(``https://generativelanguage.googleapis.com``, ``https://aiplatform.googleapis.com``,
``https://us-central1-aiplatform.googleapis.com``); the adapter adds the version and the path.

Route options (``options:`` in the config file):

=========================  ==========================================================================
``api_version``            ``v1beta`` (Gemini API default) / ``v1beta1`` (Vertex default), or ``v1``
``vertex_project``         the Google Cloud project: switches the route to Vertex AI paths
``vertex_location``        Vertex region, default ``global``
``service_account_file``   path of a service-account JSON key: OAuth bearer tokens instead of a key
``service_account``        the same key inline (a mapping, e.g. from an environment variable)
``oauth_scopes``           default ``[https://www.googleapis.com/auth/cloud-platform]``
=========================  ==========================================================================

Gemini API: ``{base}/{version}/models/{model}:{method}``, key in ``x-goog-api-key``.
Vertex AI: ``{base}/{version}/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}``
with ``Authorization: Bearer <token>`` (a service account, or ``api_key`` used as a ready token).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from imagegate.domain.errors import InvalidRequest
from imagegate.providers.base import RouteTarget, WireRequest, WireResponse
from imagegate.providers.google.auth import CLOUD_PLATFORM_SCOPE, AccessTokens, ServiceAccount, ServiceAccountError
from imagegate.providers.http import HttpExecutor

GEMINI_API_VERSION = "v1beta"
VERTEX_API_VERSION = "v1beta1"
_KNOWN_OPTIONS = frozenset(
    {
        "api_version",
        "vertex_project",
        "vertex_location",
        "service_account_file",
        "service_account",
        "oauth_scopes",
        "after_shutdown",
    }
)
TOKEN_TIMEOUT_S = 30.0


class RouteOptionError(InvalidRequest):
    """A Google route's options are unusable (a configuration error, reported at startup)."""


@dataclass(frozen=True, slots=True)
class GoogleEndpoint:
    """A route's resolved transport: URL layout and credential kind."""

    vertex: bool
    api_version: str
    project: str | None = None
    location: str | None = None
    account: ServiceAccount | None = None
    scopes: tuple[str, ...] = (CLOUD_PLATFORM_SCOPE,)

    def url(self, base_url: str, model: str, method: str) -> str:
        """The full URL of ``model:method`` (``generateContent``, ``streamGenerateContent?alt=sse``, ``predict``)."""
        base = base_url.rstrip("/")
        if self.vertex:
            return (
                f"{base}/{self.api_version}/projects/{self.project}/locations/{self.location}"
                f"/publishers/google/models/{model}:{method}"
            )
        return f"{base}/{self.api_version}/models/{model}:{method}"


def _string_option(options: Mapping[str, Any], name: str, route: str) -> str | None:
    value = options.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or value == "":
        raise RouteOptionError(f"route {route!r}: option {name!r} must be a non-empty string")
    return value


def endpoint_from_options(route: RouteTarget) -> GoogleEndpoint:
    """Resolve (and check) a route's options; reads the service-account file once."""
    options = route.options
    unknown = sorted(set(options) - _KNOWN_OPTIONS)
    if unknown:
        raise RouteOptionError(f"route {route.name!r}: unknown option(s) {', '.join(unknown)}")
    account: ServiceAccount | None = None
    try:
        path = _string_option(options, "service_account_file", route.name)
        if path is not None:
            account = ServiceAccount.from_file(path)
        elif isinstance(options.get("service_account"), Mapping):
            account = ServiceAccount.from_info(options["service_account"], origin=f"route {route.name!r}")
        elif options.get("service_account") is not None:
            raise RouteOptionError(f"route {route.name!r}: option 'service_account' must be a mapping")
    except ServiceAccountError as exc:
        raise RouteOptionError(str(exc)) from None
    project = _string_option(options, "vertex_project", route.name)
    if project is None and account is not None:
        project = account.project_id
    if account is not None and project is None:
        raise RouteOptionError(
            f"route {route.name!r}: a service account needs 'vertex_project' (or project_id in the key)"
        )
    vertex = project is not None
    location = _string_option(options, "vertex_location", route.name)
    if location is not None and not vertex:
        raise RouteOptionError(f"route {route.name!r}: 'vertex_location' needs 'vertex_project' (or a service account)")
    scopes = options.get("oauth_scopes", [CLOUD_PLATFORM_SCOPE])
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
        raise RouteOptionError(f"route {route.name!r}: option 'oauth_scopes' must be a list of strings")
    version = _string_option(options, "api_version", route.name)
    return GoogleEndpoint(
        vertex=vertex,
        api_version=version if version is not None else (VERTEX_API_VERSION if vertex else GEMINI_API_VERSION),
        project=project,
        location=(location or "global") if vertex else None,
        account=account,
        scopes=tuple(scopes),
    )


class GoogleAccess:
    """Per-route endpoints (resolved once) and OAuth tokens, shared by the Google adapters."""

    def __init__(self, tokens: AccessTokens | None = None) -> None:
        self.tokens = tokens if tokens is not None else AccessTokens()
        self._endpoints: dict[tuple[str, str, str, str], GoogleEndpoint] = {}

    def endpoint(self, route: RouteTarget) -> GoogleEndpoint:
        """The route's endpoint (options are parsed and the key file read on first use only)."""
        key = (route.name, route.base_url, route.model, repr(sorted(route.options.items())))
        found = self._endpoints.get(key)
        if found is None:
            found = endpoint_from_options(route)
            self._endpoints[key] = found
        return found

    def headers(self, route: RouteTarget) -> dict[str, str]:
        """Headers known without I/O: the API key (Gemini API) or a ready bearer token (Vertex)."""
        headers = {"content-type": "application/json"}
        endpoint = self.endpoint(route)
        if endpoint.account is not None:
            return headers  # the bearer token is added by ``authorize``
        if endpoint.vertex:
            headers["authorization"] = f"Bearer {route.api_key}"
        else:
            headers["x-goog-api-key"] = route.api_key
        return headers

    async def authorize(self, wire: WireRequest, route: RouteTarget, http: HttpExecutor) -> None:
        """Add the OAuth bearer token when the route uses a service account (may exchange one)."""
        endpoint = self.endpoint(route)
        if endpoint.account is None:
            return

        async def send(request: WireRequest) -> WireResponse:
            return await http.send(request, timeout_s=min(TOKEN_TIMEOUT_S, route.timeout_s))

        token = await self.tokens.bearer(endpoint.account, endpoint.scopes, send)
        wire.headers["authorization"] = f"Bearer {token}"
