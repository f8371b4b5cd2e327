"""OpenAI Batch API with ``/v1/images/edits`` lines (JSON edits), driven by the official ``openai`` SDK."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from openai import OpenAI

from tests.sandbox.helpers import decode_image, encoded_image

IMAGE = "data:image/png;base64," + base64.b64encode(encoded_image(1024, 1024)).decode()
MASK = "data:image/png;base64," + base64.b64encode(encoded_image(1024, 1024, mode="RGBA")).decode()


def _line(custom_id: str, **body: object) -> str:
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/images/edits", "body": body})


def test_sdk_batch_of_json_edits_with_a_failing_line(oai: OpenAI) -> None:
    lines = [
        _line("ok", model="gpt-image-1.5", prompt="add a hat", images=[{"image_url": IMAGE}], quality="low"),
        _line(
            "masked",
            model="gpt-image-1.5",
            prompt="add a hat",
            images=[{"image_url": IMAGE}, {"image_url": IMAGE}],
            mask={"image_url": MASK},
            quality="low",
        ),
        _line("remote", model="gpt-image-1.5", prompt="x", images=[{"image_url": "https://example.com/a.png"}]),
    ]
    uploaded = oai.files.create(file=("in.jsonl", "\n".join(lines).encode(), "application/jsonl"), purpose="batch")
    batch = oai.batches.create(input_file_id=uploaded.id, endpoint="/v1/images/edits", completion_window="24h")
    assert batch.status == "in_progress"
    assert oai.batches.retrieve(batch.id).status == "in_progress"
    batch = oai.batches.retrieve(batch.id)  # the sandbox completes a batch on its second read
    assert batch.status == "completed" and batch.output_file_id and batch.error_file_id
    assert batch.request_counts is not None
    assert (batch.request_counts.completed, batch.request_counts.failed) == (2, 1)

    output = {
        row["custom_id"]: row for row in map(json.loads, oai.files.content(batch.output_file_id).text.splitlines())
    }
    body = output["ok"]["response"]["body"]
    assert decode_image(body["data"][0]["b64_json"]).size == (1024, 1024)
    # The input image is billed as image tokens: 194 for a 1024² image at low fidelity (the tile rule).
    assert body["usage"]["input_tokens_details"]["image_tokens"] == 194
    assert output["masked"]["response"]["body"]["usage"]["input_tokens_details"]["image_tokens"] == 2 * 194
    errors = [json.loads(row) for row in oai.files.content(batch.error_file_id).text.splitlines()]
    assert [(row["custom_id"], row["response"]["status_code"]) for row in errors] == [("remote", 400)]
    assert errors[0]["response"]["body"]["error"]["param"] == "images[0].image_url"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "gpt-image-1.5", "prompt": "x"}, "images"),
        ({"model": "gpt-image-1.5", "prompt": "x", "images": [{"file_id": "file-abc"}]}, "images[0].file_id"),
        (
            {"model": "gpt-image-1.5", "prompt": "x", "images": [{"image_url": "data:image/png;base64,@@"}]},
            "images[0].image_url",
        ),
        ({"model": "dall-e-2", "prompt": "x", "images": [{"image_url": IMAGE}]}, "model"),
    ],
)
def test_json_edit_refusals_name_the_field(client: httpx.Client, body: dict[str, object], param: str) -> None:
    response = client.post("/v1/images/edits", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
