"""Fault directives and errors as Google answers them, shared by the Gemini and Imagen sandbox routes."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from imagegate.sandbox.config import SandboxState
from imagegate.sandbox.directives import Directive, DirectiveError, FaultPlan, find_directives, plan_faults
from imagegate.sandbox.faults import HangResponse, ResetResponse
from imagegate.sandbox.gemini_models import GoogleError, google_error

__all__ = [
    "google_error_response",
    "google_fault_error",
    "google_fault_response",
    "google_plan",
    "request_id_of",
]


def request_id_of(request: Request) -> str:
    """The id the middleware assigned to this request."""
    return str(request.scope.get("state", {}).get("request_id", ""))


def google_error_response(error: GoogleError) -> Response:
    """``error`` as an HTTP response."""
    return Response(
        orjson.dumps(error.body()), status_code=error.code, media_type="application/json", headers=error.headers
    )


def google_fault_response(directive: Directive, state: SandboxState, model: str) -> Response | ASGIApp | None:
    """Answer for a fault that ends the request before any image: raises the Google error for
    error directives, returns the hang or reset response, None for the other directives."""
    error = google_fault_error(directive, model)
    if error is not None:
        raise error
    if directive.name == "hang":
        return HangResponse(
            state.config.hang_max_s,
            google_error_response(GoogleError(504, "DEADLINE_EXCEEDED", "The sandbox hang fault reached hang_max_s.")),
        )
    if directive.name == "reset":
        return ResetResponse(state.transport_lookup)
    return None


def google_fault_error(directive: Directive, model: str) -> GoogleError | None:
    """The Google-shaped error an error directive stands for (None for other directives)."""
    name = directive.name
    if name == "429":
        seconds = directive.seconds if directive.seconds is not None else 1.0
        return GoogleError(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and "
            f"billing details. Please retry in {seconds:g}s.",
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                            "quotaDimensions": {"location": "global", "model": model},
                            "quotaValue": "10",
                        }
                    ],
                },
                {
                    "@type": "type.googleapis.com/google.rpc.Help",
                    "links": [
                        {
                            "description": "Learn more about Gemini API quotas",
                            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                        }
                    ],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds:g}s"},
            ],
        )
    if name == "quota":
        return GoogleError(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                            "quotaDimensions": {"location": "global", "model": model},
                            "quotaValue": "0",
                        }
                    ],
                },
            ],
        )
    if name == "401":
        return GoogleError(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                }
            ],
        )
    if name == "500":
        return GoogleError(
            500,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in "
            "https://developers.generativeai.google/guide/troubleshooting",
        )
    if name == "502":
        return GoogleError(502, "UNAVAILABLE", "Bad gateway.")
    if name == "503":
        return GoogleError(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    return None


def google_plan(state: SandboxState, request: Request, model: str, prompt: str) -> FaultPlan:
    """Queued fault first, then the prompt's directives (a bad directive is a 400)."""
    queued = state.faults.take(model, request.url.path)
    try:
        from_prompt = find_directives(prompt)
    except DirectiveError as exc:
        raise google_error(str(exc), field_name="contents") from None
    return plan_faults(([queued] if queued is not None else []) + from_prompt)
