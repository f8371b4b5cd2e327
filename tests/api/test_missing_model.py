"""A request without ``model`` is a missing field, not an unknown model: OpenAI's own answer, before any provider."""

from __future__ import annotations

import openai
import pytest
from openai import OpenAI

from tests.support.gateway import GatewayHandle


def test_a_missing_model_is_missing_required_parameter_naming_model(gateway: GatewayHandle):
    client = OpenAI(base_url=gateway.url + "/v1", api_key=gateway.create_key("missing-model"), max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(prompt="a fox")
    error = caught.value.body
    assert isinstance(error, dict)
    assert (error["code"], error["param"], error["message"]) == (
        "missing_required_parameter",
        "model",
        "Missing required parameter: 'model'.",
    )
    assert gateway.ledger(caught.value.response.headers["x-request-id"]) == []
