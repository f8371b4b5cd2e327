"""What no FLUX host can honour is a 400 naming the client's field, on every host, before any call."""

from __future__ import annotations

import openai
import pytest

HOSTS = ["flux-2-pro", "fal-flux-2-pro", "replicate-flux-2-pro", "together-schnell"]


@pytest.mark.parametrize("model", HOSTS)
@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"size": "1000x1000"}, "size"),  # off every host's grid: never silently rounded
        ({"quality": "high"}, "quality"),  # FLUX has one quality per model
        ({"output_format": "gif"}, "output_format"),
    ],
)
def test_every_host_refuses_with_the_field_named(client, sandbox_control, model, fields, param):
    sandbox_control.delete("/_sandbox/requests")
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model=model, prompt="x", **fields)
    assert info.value.body["param"] == param
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 0
