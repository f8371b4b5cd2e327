"""Imagen adapter: ``:predict`` bodies and answers, pure. No network."""

from __future__ import annotations

import base64
import io

import orjson
import pytest
from PIL import Image

from imagegate.domain import errors as e
from imagegate.domain.request import ImageRequest
from imagegate.providers.base import RouteTarget, WireResponse
from imagegate.providers.imagen import ImagenAdapter

ADAPTER = ImagenAdapter()
ROUTE = RouteTarget(
    name="r",
    alias="imagen",
    provider="imagen",
    model="imagen-4.0-generate-001",
    base_url="https://generativelanguage.googleapis.com",
    api_key="k",
)


def req(**fields) -> ImageRequest:
    base = {"operation": "generate", "model": "imagen", "prompt": "a fox", "dialect": "openai-images"}
    base.update(fields)
    return ImageRequest(**base)


def _png(size=(16, 12)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, (0, 0, 0)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_sample_count_is_always_sent_because_the_wire_default_is_four():
    wire = ADAPTER.to_wire(req(), ROUTE)
    assert wire.url == "https://generativelanguage.googleapis.com/v1beta/models/imagen-4.0-generate-001:predict"
    assert wire.headers["x-goog-api-key"] == "k"
    assert orjson.loads(wire.content) == {"instances": [{"prompt": "a fox"}], "parameters": {"sampleCount": 1}}


def test_canonical_fields_map_to_parameters():
    body = orjson.loads(
        ADAPTER.to_wire(
            req(n=3, aspect_ratio="9:16", resolution="2K", output_format="jpeg", output_compression=70), ROUTE
        ).content
    )
    assert body["parameters"] == {
        "sampleCount": 3,
        "aspectRatio": "9:16",
        "sampleImageSize": "2K",
        "outputOptions": {"mimeType": "image/jpeg", "compressionQuality": 70},
    }


def test_native_imagen_body_passes_through_with_this_calls_sample_count():
    native = {"instances": [{"prompt": "a fox"}], "parameters": {"includeRaiReason": True, "language": "en"}}
    body = orjson.loads(ADAPTER.to_wire(req(dialect="imagen", native=native, n=4), ROUTE).content)
    assert body == {
        "instances": [{"prompt": "a fox"}],
        "parameters": {"includeRaiReason": True, "language": "en", "sampleCount": 4},
    }


def test_predictions_become_images_and_filtered_entries_are_counted():
    raw = orjson.dumps(
        {
            "predictions": [
                {"bytesBase64Encoded": _png(), "mimeType": "image/png"},
                {"raiFilteredReason": "filtered"},
                {"safetyAttributes": {"categories": [], "scores": []}, "contentType": "Positive Prompt"},
            ]
        }
    )
    result = ADAPTER.from_wire(WireResponse(200, {}, raw), req(n=2), ROUTE, keep_raw=False)
    assert result.image_count == 1 and result.size == "16x12" and result.output_format == "png"
    assert result.usage.raw == {"images": 1, "filtered": 1, "sampleCount": 2}
    kept = ADAPTER.from_wire(WireResponse(200, {}, raw), req(n=2), ROUTE, keep_raw=True)
    assert kept.raw_body is raw and kept.images == [] and kept.image_count == 1


@pytest.mark.parametrize("raw", [b"{}", orjson.dumps({"predictions": [{"raiFilteredReason": "r"}]})])
def test_every_image_filtered_is_moderation_at_the_output_stage(raw):
    with pytest.raises(e.ModerationBlocked) as info:
        ADAPTER.from_wire(WireResponse(200, {}, raw), req(), ROUTE, keep_raw=False)
    assert info.value.details["stage"] == "output" and info.value.details["raw_body"] == raw


@pytest.mark.parametrize(("field", "value"), [("quality", "hd"), ("background", "transparent"), ("size", "1024x1024")])
def test_fields_imagen_cannot_express_are_refused(field, value):
    with pytest.raises(e.InvalidRequest) as info:
        ADAPTER.validate(req(**{field: value}), ADAPTER.default_capabilities)
    assert info.value.param == field
