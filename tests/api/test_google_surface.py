"""The Gemini API and Vertex AI surfaces of the Google dialects: key refusals and model paths."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from imagegate.api.google.errors import error_status_and_body, missing_key_status_and_body
from imagegate.api.google.surface import GEMINI_API, VERTEX_AI, models_path
from imagegate.domain import errors as e


def _request(path: str) -> Request:
    return Request({"type": "http", "method": "POST", "path": path, "query_string": b"", "headers": []})


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1beta/models/imagen-4:predict", "/v1beta/models/"),
        ("/v1/models/nano:generateContent", "/v1/models/"),
        ("/v1beta/models", "/v1beta/models/"),
        (
            "/v1beta1/projects/p/locations/us-central1/publishers/google/models/nano:streamGenerateContent",
            "/v1beta1/projects/p/locations/us-central1/publishers/google/models/",
        ),
        ("/v1/publishers/google/models/nano", "/v1/publishers/google/models/"),
    ],
)
def test_models_path_is_where_the_clients_own_api_lists_models(path, expected):
    assert models_path(_request(path)) == expected


def test_vertex_answers_a_missing_or_refused_key_with_401_unauthenticated():
    status, body = error_status_and_body(e.AuthenticationFailed("Incorrect API key provided."), VERTEX_AI)
    assert (status, body["error"]["code"], body["error"]["status"]) == (401, 401, "UNAUTHENTICATED")
    assert body["error"]["message"] == "Incorrect API key provided."
    status, body = missing_key_status_and_body(VERTEX_AI)
    assert (status, body["error"]["status"]) == (401, "UNAUTHENTICATED") and "Bearer" in body["error"]["message"]


def test_the_gemini_api_keeps_its_own_key_answers():
    assert error_status_and_body(e.AuthenticationFailed("who"), GEMINI_API)[0] == 400
    assert missing_key_status_and_body(GEMINI_API)[0] == 403


def test_other_errors_are_the_same_on_both_surfaces():
    error = e.InvalidRequest("bad", param="parameters.sampleCount")
    assert error_status_and_body(error, VERTEX_AI) == error_status_and_body(error, GEMINI_API)


def test_model_entries_are_named_as_each_api_names_them():
    assert GEMINI_API.model_entry("nano", None)["name"] == "models/nano"
    assert VERTEX_AI.model_entry("nano", "d") == {
        "name": "publishers/google/models/nano",
        "versionId": "imagegate",
        "displayName": "nano",
        "description": "d",
    }
