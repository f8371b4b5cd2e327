"""OpenTelemetry traces (the optional ``otel`` extra): a span per request and one per provider attempt.

The request span (``SERVER``) wraps the image call and is current while it runs, so the attempt
spans (``CLIENT``) become its children, with OpenTelemetry's GenAI semantic-convention attributes:
``gen_ai.operation.name`` (``generate_content``: multimodal generation), ``gen_ai.request.model``,
``gen_ai.provider.name``, ``gen_ai.output.type = image``, ``gen_ai.usage.input_tokens`` /
``output_tokens`` where the provider reports tokens, ``gen_ai.response.id`` and ``error.type``.
Both carry ``imagegate.request_id``. An attempt span is made from its ledger row when the attempt is
recorded, back-dated by its latency, so the attempt loop is not touched. Never prompts or images.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.util.types import AttributeValue
from starlette.types import Scope

from imagegate.accounting.ports import LedgerEntry
from imagegate.domain.result import Usage
from imagegate.providers.registry import AdapterRegistry
from imagegate.service.request_facts import RequestFacts, current_facts
from imagegate.telemetry.middleware import Finish

OPERATION = "generate_content"


def otlp_tracer_provider() -> TracerProvider:
    """An SDK provider exporting over OTLP/HTTP in batches (``OTEL_EXPORTER_OTLP_*`` configure it)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = SdkTracerProvider(resource=Resource.create({"service.name": "imagegate"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def _sum(*counts: int | None) -> int | None:
    present = [count for count in counts if count is not None]
    return sum(present) if present else None


class GatewayTracer:
    """Makes the request and attempt spans on a tracer provider of its own (never the global one)."""

    def __init__(self, provider: TracerProvider, registry: AdapterRegistry) -> None:
        self._tracer = provider.get_tracer("imagegate")
        self._registry = registry

    @contextlib.contextmanager
    def request_span(self, scope: Scope) -> Iterator[Finish]:
        """The span of one image request, current (for attempt spans) while the block runs."""
        method: str = scope["method"]
        attributes: dict[str, AttributeValue] = {
            "http.request.method": method,
            "url.path": scope["path"],
            "gen_ai.operation.name": OPERATION,
            "gen_ai.output.type": "image",
        }
        with self._tracer.start_as_current_span(
            f"{method} {scope['path']}", kind=SpanKind.SERVER, attributes=attributes, record_exception=False
        ) as span:

            def finish(facts: RequestFacts, status: int) -> None:
                span.set_attribute("http.response.status_code", status)
                if facts.request_id is not None:
                    span.set_attribute("imagegate.request_id", facts.request_id)
                if facts.model is not None:
                    span.set_attribute("gen_ai.request.model", facts.model)
                if facts.error_code is not None:
                    span.set_attribute("error.type", facts.error_code)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))

            yield finish

    def observe_attempt(self, entry: LedgerEntry) -> None:
        """One provider attempt's span, from its ledger row (an ``AttemptObserver``)."""
        end_ns = time.time_ns()
        attributes = self._attempt_attributes(entry)
        facts = current_facts()
        if facts is not None and facts.team is not None:
            attributes["imagegate.team"] = facts.team
        span = self._tracer.start_span(
            f"{OPERATION} {entry.provider_model}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=end_ns - entry.latency_ms * 1_000_000,
        )
        if entry.status != "ok":
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end_ns)

    def _attempt_attributes(self, entry: LedgerEntry) -> dict[str, AttributeValue]:
        adapter = self._registry.get(entry.provider) if entry.provider in self._registry.names() else None
        provider_name = entry.provider
        usage = Usage()
        if adapter is not None:
            provider_name = adapter.telemetry_name if adapter.telemetry_name is not None else adapter.name
            usage = adapter.usage_from_ledger(entry.usage)
        attributes: dict[str, AttributeValue] = {
            "gen_ai.operation.name": OPERATION,
            "gen_ai.request.model": entry.provider_model,
            "gen_ai.provider.name": provider_name,
            "gen_ai.output.type": "image",
            "imagegate.request_id": entry.request_id,
            "imagegate.attempt": entry.attempt,
            "imagegate.route": entry.route,
            "imagegate.model": entry.model,
            "imagegate.images": entry.images,
            "imagegate.cost_micros": entry.cost_micros,
        }
        input_tokens = _sum(usage.input_text_tokens, usage.input_image_tokens)
        output_tokens = _sum(usage.output_image_tokens, usage.output_text_tokens, usage.thinking_tokens)
        if input_tokens is not None:
            attributes["gen_ai.usage.input_tokens"] = input_tokens
        if output_tokens is not None:
            attributes["gen_ai.usage.output_tokens"] = output_tokens
        if entry.provider_request_id is not None:
            attributes["gen_ai.response.id"] = entry.provider_request_id
        if entry.error_code is not None:
            attributes["error.type"] = entry.error_code
        if entry.http_status is not None:
            attributes["http.response.status_code"] = entry.http_status
        return attributes
