"""Provider messages that may quote route credentials never reach a client, in any dialect."""

import orjson
import pytest

from imagegate.api.google import errors as google_errors
from imagegate.api.openai import errors as openai_errors
from imagegate.domain import errors as e

LEAKY = "Incorrect API key provided: sk-rout***4d2f"


@pytest.mark.parametrize("renderer", [openai_errors, google_errors])
@pytest.mark.parametrize("error_class", [e.ProviderAuthentication, e.ProviderPermission])
def test_credential_and_account_failures_are_withheld(renderer, error_class):
    status, body = renderer.error_status_and_body(error_class(LEAKY, provider_status=401))
    assert status == 502
    assert "sk-rout" not in orjson.dumps(body).decode()
    assert "sk-rout" not in renderer.stream_error_frame(error_class(LEAKY)).decode()


@pytest.mark.parametrize("renderer", [openai_errors, google_errors])
def test_other_provider_messages_are_relayed(renderer):
    _, body = renderer.error_status_and_body(e.ProviderInvalidRequest("size must be a multiple of 16"))
    assert "multiple of 16" in body["error"]["message"]
