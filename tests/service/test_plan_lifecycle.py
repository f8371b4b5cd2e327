"""Planning with model lifecycle: live, refused after shutdown, or replaced. Pure (injected date)."""

from __future__ import annotations

from datetime import date

import pytest

from imagegate.accounting.auth import Principal
from imagegate.catalog import load_catalog
from imagegate.domain.errors import InvalidRequest, ModelRetired
from imagegate.domain.request import ImageRequest
from imagegate.providers.base import RouteTarget
from imagegate.providers.registry import builtin_registry
from imagegate.route_config import facts_from_catalog, replacements_from_catalog
from imagegate.routing.table import ModelAlias, RouteTable
from imagegate.service.plan import plan_request

CATALOG = load_catalog()
REGISTRY = builtin_registry()
PRINCIPAL = Principal(key_id=1, key_name="k", models=None)
TODAY = date(2026, 11, 21)
BEFORE_SHUTDOWN = date(2026, 8, 1)


def imagen_route(**options) -> RouteTarget:
    return RouteTarget(
        name="imagen-route",
        alias="legacy",
        provider="imagen",
        model="imagen-4.0-generate-001",
        base_url="https://generativelanguage.googleapis.com",
        api_key="k",
        options=options,
    )


def plan(routes: list[RouteTarget], today: date, *, also_served: tuple[ModelAlias, ...] = (), **fields):
    request = ImageRequest(
        **{"operation": "generate", "model": "legacy", "prompt": "a fox", "dialect": "imagen", "n": 4, **fields}
    )
    return plan_request(
        request_id="req_1",
        request=request,
        principal=PRINCIPAL,
        routes=RouteTable([ModelAlias("legacy", tuple(routes)), *also_served]),
        registry=REGISTRY,
        facts=facts_from_catalog(CATALOG),
        today=today,
        replacements=replacements_from_catalog(CATALOG, REGISTRY),
    )


def test_before_shutdown_the_model_is_served_and_its_lifecycle_travels_with_the_route():
    [route] = plan([imagen_route()], BEFORE_SHUTDOWN).routes
    assert route.target.model == "imagen-4.0-generate-001" and route.replaced_from is None
    assert route.lifecycle is not None and route.lifecycle.shutdown_on == date(2026, 8, 17)
    assert route.lifecycle.replacement == "gemini-2.5-flash-image"


def gemini_route(alias: str, model: str = "gemini-2.5-flash-image") -> RouteTarget:
    return RouteTarget(
        name=f"{alias}-route",
        alias=alias,
        provider="gemini",
        model=model,
        base_url="https://generativelanguage.googleapis.com",
        api_key="k",
    )


def test_after_shutdown_the_default_is_to_refuse_naming_the_replacement_the_gateway_serves():
    served = ModelAlias("nano-banana", (gemini_route("nano-banana"),))
    with pytest.raises(ModelRetired) as info:
        plan([imagen_route()], TODAY, also_served=(served,))
    assert info.value.replacement == "nano-banana" and info.value.param == "model"
    assert "2026-08-17" in info.value.message and "Use 'nano-banana' instead." in info.value.message
    by_name = ModelAlias("gemini-2.5-flash-image", (gemini_route("gemini-2.5-flash-image", "gemini-3-pro-image"),))
    with pytest.raises(ModelRetired) as named:
        plan([imagen_route()], TODAY, also_served=(by_name,))
    assert named.value.replacement == "gemini-2.5-flash-image"


def test_a_refusal_suggests_no_replacement_the_gateway_cannot_serve():
    with pytest.raises(ModelRetired) as info:
        plan(
            [imagen_route()], TODAY, also_served=(ModelAlias("other", (gemini_route("other", "gemini-3-pro-image"),)),)
        )
    assert info.value.replacement is None
    assert "gemini-2.5-flash-image" not in info.value.message and "instead" not in info.value.message
    assert "2026-08-17" in info.value.message


def test_keep_calls_a_shut_down_model_as_if_the_catalog_listed_no_shutdown():
    [route] = plan([imagen_route(after_shutdown="keep")], TODAY).routes
    assert (route.target.provider, route.target.model, route.replaced_from) == (
        "imagen",
        "imagen-4.0-generate-001",
        None,
    )


def test_replace_calls_the_replacement_through_its_own_adapter_with_the_routes_credentials():
    result = plan([imagen_route(after_shutdown="replace")], TODAY)
    [route] = result.routes
    assert (route.target.provider, route.target.model, route.replaced_from) == (
        "gemini",
        "gemini-2.5-flash-image",
        "imagen-4.0-generate-001",
    )
    assert route.adapter.name == "gemini" and route.target.api_key == "k" and route.target.name == "imagen-route"
    # Imagen's default of four images becomes four one-image Gemini calls.
    assert route.chunks == (1, 1, 1, 1)
    assert route.price is not None and route.price.unit == "token"


def test_a_shut_down_route_is_skipped_when_another_route_is_live():
    live = RouteTarget(
        name="live",
        alias="legacy",
        provider="gemini",
        model="gemini-3-pro-image",
        base_url="https://generativelanguage.googleapis.com",
        api_key="k",
    )
    result = plan([imagen_route(), live], TODAY)
    assert [route.target.name for route in result.routes] == ["live"]


def test_what_the_replacement_cannot_honour_is_a_400_naming_the_clients_field():
    with pytest.raises(InvalidRequest) as info:
        plan(
            [imagen_route(after_shutdown="replace")],
            TODAY,
            resolution="2K",
            param_names={"resolution": "parameters.sampleImageSize"},
        )
    assert info.value.param == "parameters.sampleImageSize"


def test_without_a_clock_lifecycle_is_not_applied():
    assert plan([imagen_route()], None).routes[0].target.provider == "imagen"  # type: ignore[arg-type]


def test_streams_are_emulated_when_a_route_cannot_stream_in_the_clients_dialect():
    gemini = RouteTarget(
        name="g", alias="legacy", provider="gemini", model="gemini-3-pro-image", base_url="https://x", api_key="k"
    )
    result = plan([gemini], TODAY, dialect="openai-images", n=None, stream=True)
    assert result.emulated_stream and result.routes[0].request.stream is False
    native = plan([gemini], TODAY, dialect="gemini", n=None, stream=True)
    assert not native.emulated_stream and native.routes[0].request.stream is True
