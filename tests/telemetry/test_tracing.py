"""OpenTelemetry traces: a request span and, as its child, one span per provider attempt with the GenAI
semantic-convention attributes; spans go to an in-memory exporter (the OTLP exporter in production)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from imagegate.app import build_runtime
from imagegate.config.file import parse_config
from imagegate.config.settings import Settings
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import GatewayHandle, running_gateway
from tests.support.google import TODAY, google_models_config


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(scope="module")
def traced(
    sandbox_url: str, tmp_path_factory: pytest.TempPathFactory, exporter: InMemorySpanExporter
) -> Iterator[GatewayHandle]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("traces") / "imagegate.db")
    config = google_models_config(sandbox_url)
    with running_gateway(engine, config, today=lambda: TODAY, tracer_provider=provider) as handle:
        yield handle
    engine.dispose()


def _spans_of(exporter: InMemorySpanExporter, request_id: str) -> tuple[ReadableSpan, list[ReadableSpan]]:
    spans = exporter.get_finished_spans()
    [request] = [
        s for s in spans if s.kind == SpanKind.SERVER and s.attributes.get("imagegate.request_id") == request_id
    ]
    attempts = [
        s for s in spans if s.kind == SpanKind.CLIENT and s.attributes.get("imagegate.request_id") == request_id
    ]
    assert request.context is not None
    for attempt in attempts:
        assert attempt.parent is not None and attempt.parent.span_id == request.context.span_id
        assert attempt.context is not None and attempt.context.trace_id == request.context.trace_id
    return request, attempts


def test_an_openai_generation_is_a_request_span_with_one_attempt_span(traced: GatewayHandle, exporter):
    key = traced.create_key("traced-openai")
    answer = httpx.post(
        traced.url + "/v1/images/generations",
        json={"model": "gpt-image-2", "prompt": "a fox", "size": "1024x1024", "quality": "low"},
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert answer.status_code == 200
    request_id = answer.headers["x-request-id"]
    [row] = traced.ledger(request_id)
    request, [attempt] = _spans_of(exporter, request_id)
    assert request.name == "POST /v1/images/generations"
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["gen_ai.request.model"] == "gpt-image-2"
    assert request.attributes["gen_ai.operation.name"] == "generate_content"
    assert attempt.name == "generate_content gpt-image-2"
    usage = row.usage
    expected = {
        "gen_ai.operation.name": "generate_content",
        "gen_ai.request.model": "gpt-image-2",
        "gen_ai.provider.name": "openai",
        "gen_ai.output.type": "image",
        "gen_ai.usage.input_tokens": usage["input_tokens"],
        "gen_ai.usage.output_tokens": usage["output_tokens"],
        "gen_ai.response.id": row.provider_request_id,
        "imagegate.route": row.route,
        "imagegate.cost_micros": row.cost_micros,
    }
    assert {name: attempt.attributes[name] for name in expected} == expected
    assert attempt.end_time - attempt.start_time == row.latency_ms * 1_000_000
    assert "a fox" not in str(attempt.attributes) + str(request.attributes)  # never the prompt


def test_a_gemini_generation_names_google_and_a_failed_attempt_is_an_error(traced: GatewayHandle, exporter):
    key = traced.create_key("traced-gemini")
    answer = httpx.post(
        traced.url + "/v1beta/models/nano-banana-2:generateContent",
        json={"contents": [{"parts": [{"text": "a fox"}]}]},
        headers={"x-goog-api-key": key},
        timeout=30,
    )
    assert answer.status_code == 200
    request_id = answer.headers["x-request-id"]
    [row] = traced.ledger(request_id)
    _, [attempt] = _spans_of(exporter, request_id)
    assert attempt.attributes["gen_ai.provider.name"] == "gcp.gemini"
    assert attempt.attributes["gen_ai.usage.input_tokens"] == row.usage["promptTokenCount"]
    # Thinking tokens are output Google bills, so they count as output.
    output = row.usage["candidatesTokenCount"] + row.usage.get("thoughtsTokenCount", 0)
    assert attempt.attributes["gen_ai.usage.output_tokens"] == output

    failed = httpx.post(
        traced.url + "/v1/images/generations",
        json={"model": "gpt-image-2", "prompt": "[sandbox:500] a fox", "size": "1024x1024", "quality": "low"},
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    )
    request, attempts = _spans_of(exporter, failed.headers["x-request-id"])
    assert failed.status_code == 502 and request.status.status_code == StatusCode.ERROR
    assert request.attributes["error.type"] == "upstream_unavailable"
    assert attempts and all(span.attributes["error.type"] == "upstream_unavailable" for span in attempts)


def test_traces_are_off_by_default(tmp_path: Path):
    engine = migrated_sqlite_engine(tmp_path / "imagegate.db")
    runtime = build_runtime(Settings(data_dir=tmp_path, auto_migrate=False), parse_config({}, env={}), engine=engine)
    assert runtime.telemetry is not None and runtime.telemetry.tracer is None
    engine.dispose()


def test_otlp_traces_build_an_exporting_provider_that_the_app_shuts_down(tmp_path: Path):
    engine = migrated_sqlite_engine(tmp_path / "imagegate.db")
    settings = Settings(data_dir=tmp_path, auto_migrate=False, traces="otlp")
    runtime = build_runtime(settings, parse_config({}, env={}), engine=engine)
    telemetry = runtime.telemetry
    assert telemetry is not None and telemetry.tracer is not None
    assert isinstance(telemetry.owned_provider, TracerProvider)
    telemetry.close()  # nothing queued: no export is attempted
    engine.dispose()
