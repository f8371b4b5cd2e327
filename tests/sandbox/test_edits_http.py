"""POST /v1/images/edits (multipart) over real HTTP."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types import ImageEditCompletedEvent, ImageEditPartialImageEvent

from tests.sandbox.helpers import decode_image, encoded_image

IMAGE_1024 = encoded_image(1024, 1024)
MASK_1024 = encoded_image(1024, 1024, mode="RGBA")


def test_sdk_edit_with_two_images_and_mask(oai: OpenAI, client: httpx.Client) -> None:
    result = oai.images.edit(
        model="gpt-image-1.5",
        image=[("a.png", IMAGE_1024, "image/png"), ("b.jpg", encoded_image(1536, 1024, fmt="JPEG"), "image/jpeg")],
        mask=("mask.png", MASK_1024, "image/png"),
        prompt="add a hat",
        size="1536x1024",
        quality="low",
    )
    assert result.data is not None
    assert decode_image(result.data[0].b64_json or "").size == (1536, 1024)
    assert result.usage is not None
    # Low fidelity tile rule: 194 for 1024², 323 for 1536x1024; "add a hat" is 9 chars -> 3 text tokens.
    assert result.usage.input_tokens_details.image_tokens == 194 + 323
    assert result.usage.input_tokens == 3 + 194 + 323
    assert result.usage.output_tokens == 400
    log = client.get("/_sandbox/requests").json()
    assert [(r["path"], r["model"], r["status"]) for r in log["requests"]] == [
        ("/v1/images/edits", "gpt-image-1.5", 200)
    ]


def test_gpt_image_2_edit_is_high_fidelity(oai: OpenAI) -> None:
    result = oai.images.edit(
        model="gpt-image-2", image=("a.png", IMAGE_1024, "image/png"), prompt="abcd", quality="low"
    )
    assert result.usage is not None
    assert result.usage.input_tokens_details.image_tokens == 194 + 4096


def test_single_image_field_and_form_typed_fields(client: httpx.Client) -> None:
    response = client.post(
        "/v1/images/edits",
        data={
            "model": "gpt-image-1-mini",
            "prompt": "p",
            "n": "2",
            "output_format": "webp",
            "output_compression": "50",
            "quality": "low",
        },
        files=[("image", ("a.png", IMAGE_1024, "image/png"))],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["data"]) == 2
    assert decode_image(body["data"][0]["b64_json"]).format == "WEBP"
    assert body["usage"]["output_tokens"] == 2 * 272


@pytest.mark.parametrize(
    ("mask", "detail"),
    [
        (encoded_image(1024, 1024, mode="RGB"), "alpha"),
        (encoded_image(512, 512, mode="RGBA"), "same size"),
        (encoded_image(1024, 1024, fmt="JPEG"), "PNG"),
    ],
)
def test_bad_mask_is_400_param_mask(oai: OpenAI, mask: bytes, detail: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.images.edit(
            model="gpt-image-1.5",
            image=("a.png", IMAGE_1024, "image/png"),
            mask=("m.png", mask, "image/png"),
            prompt="p",
        )
    assert caught.value.param == "mask"
    assert detail in caught.value.message


def test_too_many_images(client: httpx.Client) -> None:
    files = [("image[]", (f"{i}.png", encoded_image(32, 32), "image/png")) for i in range(17)]
    response = client.post("/v1/images/edits", data={"model": "gpt-image-2", "prompt": "p"}, files=files)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "image"


def test_missing_image_and_not_an_image(client: httpx.Client) -> None:
    missing = client.post(
        "/v1/images/edits",
        data={"model": "gpt-image-2", "prompt": "p"},
        files=[("mask", ("m.png", MASK_1024, "image/png"))],
    )
    assert missing.json()["error"]["param"] == "image"
    garbage = client.post(
        "/v1/images/edits",
        data={"model": "gpt-image-2", "prompt": "p"},
        files=[("image[]", ("a.png", b"not a png", "image/png"))],
    )
    assert (garbage.status_code, garbage.json()["error"]["param"]) == (400, "image")


def test_edit_field_errors(client: httpx.Client) -> None:
    files = [("image[]", ("a.png", IMAGE_1024, "image/png"))]
    for data, param in (
        ({"model": "gpt-image-2", "prompt": "p", "input_fidelity": "high"}, "input_fidelity"),
        ({"model": "gpt-image-1-mini", "prompt": "p", "input_fidelity": "high"}, "input_fidelity"),
        ({"model": "gpt-image-2", "prompt": "p", "n": "many"}, "n"),
        ({"model": "gpt-image-2"}, "prompt"),
    ):
        response = client.post("/v1/images/edits", data=data, files=files)
        assert (response.status_code, response.json()["error"]["param"]) == (400, param)


def test_a_body_neither_multipart_nor_json_is_rejected(client: httpx.Client) -> None:
    # JSON edits (``images`` as image references) are tests/sandbox/test_openai_batch_edits_http.py's.
    response = client.post("/v1/images/edits", data={"model": "gpt-image-2", "prompt": "p"})
    assert response.status_code == 400
    assert "multipart/form-data or JSON" in response.json()["error"]["message"]


def test_sdk_edit_stream(oai: OpenAI) -> None:
    events = list(
        oai.images.edit(
            model="gpt-image-1.5",
            image=("a.png", IMAGE_1024, "image/png"),
            prompt="p",
            stream=True,
            partial_images=1,
            quality="low",
        )
    )
    assert [type(e) for e in events] == [ImageEditPartialImageEvent, ImageEditCompletedEvent]
    completed = events[-1]
    assert isinstance(completed, ImageEditCompletedEvent)
    assert completed.type == "image_edit.completed"
    assert completed.usage.output_tokens == 272 + 100
    assert completed.usage.input_tokens_details.image_tokens == 194
    assert decode_image(completed.b64_json).size == (1024, 1024)
