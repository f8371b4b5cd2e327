"""The Gemini image adapter: ``generateContent`` / ``streamGenerateContent`` on the Gemini API or Vertex AI.

Pure transforms plus one hook: ``authorize`` adds an OAuth token on Vertex routes that use a
service account (the only step that may need I/O, done through the gateway's executor).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import orjson

from imagegate.domain.capabilities import Capabilities
from imagegate.domain.errors import ProviderError, UpstreamBadResponse
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult, StreamEvent, Usage
from imagegate.providers.base import RouteTarget, WireRequest, WireResponse
from imagegate.providers.batch import BatchApi
from imagegate.providers.gemini.batch import GeminiBatchApi
from imagegate.providers.gemini.parameters import DEFAULT_CAPABILITIES, DIALECT, FOREIGN_EXTRAS, IMAGE_KEYS, PARAMETERS
from imagegate.providers.gemini.request import body_for
from imagegate.providers.gemini.response import Content, outcome_error, output_format, read_content, usage_from_gemini
from imagegate.providers.google.adapter_base import GoogleAdapterBase
from imagegate.providers.google.errors import error_from_google, error_from_response
from imagegate.providers.google.pictures import image_size_from_b64
from imagegate.providers.mapping import ParameterTable
from imagegate.providers.shapes import size_text
from imagegate.providers.skeleton import MalformedBody, SkeletonScanner, parse_skeleton
from imagegate.providers.sse import frame_fields, sse_frames


class GeminiImageAdapter(GoogleAdapterBase):
    """Gemini image models ("Nano Banana"): text + reference images in, inline images out."""

    name: ClassVar[str] = "gemini"
    telemetry_name: ClassVar[str | None] = "gcp.gemini"
    dialect: ClassVar[str] = DIALECT
    default_capabilities: ClassVar[Capabilities] = DEFAULT_CAPABILITIES
    foreign_extras: ClassVar[frozenset[str]] = FOREIGN_EXTRAS
    parameters: ClassVar[ParameterTable] = PARAMETERS

    def usage_from_ledger(self, raw: Mapping[str, Any]) -> Usage:
        """The ledger keeps Gemini's ``usageMetadata`` as sent."""
        return usage_from_gemini(raw, has_image=True)

    def batch_api(self, route: RouteTarget) -> BatchApi | None:
        """``batchGenerateContent`` on the Gemini API; None on Vertex AI (its batch jobs read Cloud Storage)."""
        if self.access.endpoint(route).vertex:
            return None
        return GeminiBatchApi(self._batch_url, self.access.headers)

    def _batch_url(self, route: RouteTarget, path: str) -> str:
        return f"{route.base_url.rstrip('/')}/{self.access.endpoint(route).api_version}/{path}"

    def to_wire(self, request: ImageRequest, route: RouteTarget) -> WireRequest:
        """``generateContent`` (or ``streamGenerateContent?alt=sse`` when streaming) for ``route.model``."""
        endpoint = self.access.endpoint(route)
        body = body_for(request, route.model, vertex=endpoint.vertex)
        method = "streamGenerateContent?alt=sse" if request.stream else "generateContent"
        return WireRequest(
            "POST",
            endpoint.url(route.base_url, route.model, method),
            self.access.headers(route),
            content=orjson.dumps(body),
            stream=request.stream,
        )

    def from_wire(
        self, response: WireResponse, request: ImageRequest, route: RouteTarget, *, keep_raw: bool
    ) -> ImageResult:
        """Parse a 200; with ``keep_raw`` the base64 is skipped, not decoded (the body is forwarded)."""
        try:
            if keep_raw:
                parsed, _ = parse_skeleton(response.body, IMAGE_KEYS)
            else:
                parsed = orjson.loads(response.body)
        except (MalformedBody, orjson.JSONDecodeError) as exc:
            raise UpstreamBadResponse(
                f"the provider's response is not valid JSON: {exc}", provider_status=response.status
            ) from exc
        if not keep_raw:
            return self._result(parsed, response.status, response.headers, raw_body=response.body, decoded=True)
        result = self._result(parsed, response.status, response.headers, raw_body=response.body, decoded=False)
        result.raw_body = response.body
        result.raw_dialect = DIALECT
        return result

    def body_scanner(self, request: ImageRequest) -> SkeletonScanner | None:
        """A ``generateContent`` answer (not the SSE stream) can be forwarded as it arrives."""
        return None if request.stream else SkeletonScanner()

    def result_from_skeleton(self, parsed: Any, status: int, headers: Mapping[str, str]) -> ImageResult:
        """Images, usage and outcome of a ``GenerateContentResponse`` whose base64 was blanked.

        An answer without an image (``promptFeedback.blockReason``, a blocking ``finishReason``, or
        none) raises its ``ModerationBlocked``/``NoImageGenerated`` with the usage Google billed; the
        body itself has already gone to the client as Google sent it.
        """
        return self._result(parsed, status, headers, raw_body=None, decoded=False)

    def _result(
        self, parsed: Any, status: int, headers: Mapping[str, str], *, raw_body: bytes | None, decoded: bool
    ) -> ImageResult:
        """The result of a parsed body; ``decoded``: its images hold their base64 (a translation)."""
        if not isinstance(parsed, dict):
            raise UpstreamBadResponse("the provider's response is not a JSON object", provider_status=status)
        content = read_content(parsed)
        usage = usage_from_gemini(content.usage_metadata, has_image=bool(content.images))
        if not content.images:
            raise outcome_error(content, usage, raw_body=raw_body)
        first = content.images[0]
        size = None
        if decoded and first.b64_json is not None:
            dims = image_size_from_b64(first.b64_json)
            size = None if dims is None else size_text(*dims)
        return ImageResult(
            image_count=len(content.images),
            usage=usage,
            provider_request_id=self.provider_request_id(headers, parsed),
            images=content.images if decoded else [],
            size=size,
            output_format=output_format(first.mime_type),
            texts=content.texts,
        )

    def error_from_wire(self, response: WireResponse) -> ProviderError:
        """Map a non-2xx answer by status, RPC status and ``details[].@type``."""
        return error_from_response(response.status, response.headers, response.body)

    async def stream_events(self, frames: AsyncIterator[bytes]) -> AsyncIterator[StreamEvent]:
        """Classify each ``data:`` chunk; images arrive whole, usage is repeated (last one wins)."""
        seen = Content()
        images = 0
        async for frame in sse_frames(frames):
            _, data = frame_fields(frame)
            if data.strip() == b"":
                yield StreamEvent(kind="other", raw=frame)
                continue
            try:
                parsed, _ = parse_skeleton(data, IMAGE_KEYS)
            except MalformedBody as exc:
                raise UpstreamBadResponse(f"malformed stream chunk: {exc}") from exc
            if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
                yield StreamEvent(
                    kind="error", raw=frame, data=parsed, error=error_from_google(parsed["error"], status=None)
                )
                continue
            chunk = read_content(parsed)
            images += len(chunk.images)
            seen.texts.extend(chunk.texts)
            seen.finish_reasons.extend(chunk.finish_reasons)
            for name in ("finish_message", "block_reason", "block_message", "usage_metadata", "response_id"):
                if getattr(chunk, name) is not None:
                    setattr(seen, name, getattr(chunk, name))
            total = None
            if chunk.usage_metadata is not None:
                total = usage_from_gemini(chunk.usage_metadata, has_image=images > 0)
            data_dict = parsed if isinstance(parsed, dict) else None
            ended = bool(chunk.finish_reasons) or chunk.block_reason is not None
            if chunk.images:
                event = StreamEvent(
                    kind="completed", raw=frame, data=data_dict, image_count=len(chunk.images), usage_total=total
                )
            elif ended and images == 0:
                usage = total if total is not None else usage_from_gemini(seen.usage_metadata, has_image=False)
                event = StreamEvent(
                    kind="error", raw=frame, data=data_dict, usage_total=total, error=outcome_error(seen, usage)
                )
            else:
                event = StreamEvent(kind="other", raw=frame, data=data_dict, usage_total=total)
            event.provider_request_id = seen.response_id
            yield event
