"""The FLUX hosts' pure mappings: request -> wire, status -> poll state, answer -> result (no network)."""

from __future__ import annotations

import base64
import io
from decimal import Decimal

import orjson
import pytest
from PIL import Image

from imagegate.domain.errors import InvalidRequest, ModerationBlocked, QuotaExhausted, RateLimited, UpstreamTimeout
from imagegate.domain.request import ImageRequest, InputImage
from imagegate.providers.base import FetchedFile, PollTask, ProviderAdapter, RouteTarget, WireResponse
from imagegate.providers.bfl import BflAdapter
from imagegate.providers.fal import FalAdapter
from imagegate.providers.replicate import ReplicateAdapter
from imagegate.providers.together import TogetherAdapter


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def _route(provider: str, model: str, timeout_s: float = 60.0, **options: object) -> RouteTarget:
    return RouteTarget("r", "a", provider, model, "https://host.example", "secret", timeout_s, options=options)


def _request(**fields: object) -> ImageRequest:
    base: dict[str, object] = {"operation": "generate", "model": "a", "prompt": "a cat", "dialect": "openai-images"}
    return ImageRequest(**{**base, **fields})  # type: ignore[arg-type]


def _body(adapter: ProviderAdapter, request: ImageRequest, route: RouteTarget) -> dict[str, object]:
    wire = adapter.to_wire(request, route)
    assert wire.content is not None
    return orjson.loads(wire.content)  # type: ignore[no-any-return]


def _answer(document: object, status: int = 200, **headers: str) -> WireResponse:
    return WireResponse(status, headers, orjson.dumps(document))


def test_bfl_maps_size_seed_format_and_every_reference_image() -> None:
    images = [InputImage(_png(8, 8)), InputImage(_png(16, 16))]
    request = _request(operation="edit", size="1024x768", seed=0, output_format="png", images=images)
    wire = BflAdapter().to_wire(request, _route("bfl", "flux-2-pro", safety_tolerance=4))
    body = orjson.loads(wire.content or b"")
    assert wire.url == "https://host.example/v1/flux-2-pro" and wire.headers["x-key"] == "secret"
    assert (body["width"], body["height"], body["seed"], body["output_format"]) == (1024, 768, 0, "png")
    assert body["safety_tolerance"] == 4
    assert base64.b64decode(body["input_image_2"]) == images[1].data and "input_image_3" not in body


@pytest.mark.parametrize("field", ["quality", "moderation", "output_compression"])
def test_bfl_refuses_what_it_has_no_field_for(field: str) -> None:
    value: object = 50 if field == "output_compression" else "high"
    with pytest.raises(InvalidRequest) as caught:
        BflAdapter().to_wire(_request(**{field: value}), _route("bfl", "flux-2-pro"))
    assert caught.value.param == field


def test_bfl_statuses_map_to_poll_states_and_domain_errors() -> None:
    adapter, task = BflAdapter(), PollTask("t", "https://api.bfl.ai/v1/get_result?id=t")
    assert adapter.poll_state(_answer({"status": "Pending"}), task).status == "pending"
    ready = adapter.poll_state(_answer({"status": "Ready", "result": {"sample": "https://d.bfl.ai/x"}}), task)
    assert ready.files == ("https://d.bfl.ai/x",)
    moderated = adapter.poll_state(_answer({"status": "Request Moderated"}), task)
    assert isinstance(moderated.error, ModerationBlocked)
    assert isinstance(adapter.error_from_wire(_answer({"detail": "no credits"}, 402)), QuotaExhausted)
    throttled = adapter.error_from_wire(_answer({"detail": "busy"}, 429, **{"retry-after": "3"}))
    assert isinstance(throttled, RateLimited) and throttled.retry_after == 3


def test_bfl_result_carries_the_credits_as_dollars() -> None:
    submitted = _answer({"id": "t", "polling_url": "u", "cost": 4.5, "input_mp": 0.0, "output_mp": 2.1})
    final = WireResponse(200, {}, b"{}", submitted=submitted, files=(FetchedFile(_png(32, 64), "image/png"),))
    result = BflAdapter().from_wire(final, _request(), _route("bfl", "flux-2-pro"), keep_raw=False)
    assert result.usage.provider_cost_usd == Decimal("0.045")
    assert result.usage.output_megapixels is None  # millions of pixels, not the rule's 1024² MP: not priced
    assert (result.size, result.output_format, result.provider_request_id) == ("32x64", "png", "t")


def test_fal_edits_go_to_the_edit_endpoint_with_data_urls() -> None:
    request = _request(operation="edit", images=[InputImage(_png(8, 8), content_type="image/png")], n=2)
    wire = FalAdapter().to_wire(request, _route("fal", "fal-ai/flux-2/klein/4b"))
    body = orjson.loads(wire.content or b"")
    assert wire.url == "https://host.example/fal-ai/flux-2/klein/4b/edit"
    assert wire.headers["authorization"] == "Key secret" and body["num_images"] == 2
    assert body["image_urls"][0].startswith("data:image/png;base64,")


def test_fal_completed_follows_the_response_url_and_flags_are_moderation() -> None:
    adapter = FalAdapter()
    task = PollTask("r", "https://queue.fal.run/s", result_url="https://queue.fal.run/r")
    assert adapter.poll_state(_answer({"status": "COMPLETED"}), task).follow_url == "https://queue.fal.run/r"
    flagged = adapter.poll_state(
        _answer({"images": [{"url": "https://v3.fal.media/x"}], "has_nsfw_concepts": [True]}), task
    )
    assert isinstance(flagged.error, ModerationBlocked)
    policy = adapter.error_from_wire(_answer({"detail": [{"msg": "no", "type": "content_policy_violation"}]}, 422))
    assert isinstance(policy, ModerationBlocked)


def test_replicate_sends_custom_sizes_jpg_and_its_deadline_headers() -> None:
    request = _request(size="1024x768", output_format="jpeg")
    wire = ReplicateAdapter().to_wire(request, _route("replicate", "black-forest-labs/flux-2-pro", timeout_s=30))
    body = orjson.loads(wire.content or b"")["input"]
    assert wire.url == "https://host.example/v1/models/black-forest-labs/flux-2-pro/predictions"
    assert (body["aspect_ratio"], body["width"], body["height"], body["output_format"]) == ("custom", 1024, 768, "jpg")
    assert (wire.headers["prefer"], wire.headers["cancel-after"]) == ("wait=15", "30s")


def test_replicate_reads_finished_predictions_and_error_codes() -> None:
    adapter = ReplicateAdapter()
    done = {"id": "p", "status": "succeeded", "output": "https://replicate.delivery/x.webp", "urls": {"get": "g"}}
    task = adapter.accepted_task(_answer(done), _route("replicate", "m"))
    assert task is not None and task.state.files == ("https://replicate.delivery/x.webp",)
    flagged = {"status": "failed", "error": "The input or output was flagged as sensitive. (E005)"}
    assert isinstance(adapter.poll_state(_answer(flagged), task).error, ModerationBlocked)
    assert isinstance(adapter.poll_state(_answer({"status": "canceled"}), task).error, UpstreamTimeout)


def test_together_asks_for_base64_and_reads_it() -> None:
    route = _route("together", "black-forest-labs/FLUX.1-schnell", steps=4)
    body = _body(TogetherAdapter(), _request(size="1024x1024"), route)
    assert (body["response_format"], body["steps"], body["width"]) == ("base64", 4, 1024)
    answer = _answer({"id": "x", "data": [{"b64_json": base64.b64encode(_png(16, 16)).decode()}]})
    result = TogetherAdapter().from_wire(answer, _request(), route, keep_raw=False)
    assert (result.image_count, result.size) == (1, "16x16")


def test_bfl_tasks_have_no_cancel_call() -> None:
    # BFL's API (submit, get_result, credits, finetunes) cannot stop a task: nothing is sent.
    answer = _answer({"id": "t", "polling_url": "https://api.bfl.ai/v1/get_result?id=t", "cost": 3.0})
    route = _route("bfl", "flux-2-pro")
    task = BflAdapter().accepted_task(answer, route)
    assert task is not None and task.cancel_url is None
    assert BflAdapter().cancel_wire(task, route) is None


def test_together_edits_send_one_image_url_or_a_reference_list() -> None:
    images = [InputImage(_png(8, 8), content_type="image/png"), InputImage(_png(16, 16), content_type="image/png")]
    kontext = _body(
        TogetherAdapter(),
        _request(operation="edit", images=images[:1]),
        _route("together", "black-forest-labs/FLUX.1-kontext-pro"),
    )
    assert kontext["image_url"] == "data:image/png;base64," + base64.b64encode(images[0].data).decode()
    assert "reference_images" not in kontext
    flux2 = _body(
        TogetherAdapter(), _request(operation="edit", images=images), _route("together", "black-forest-labs/FLUX.2-pro")
    )
    assert [base64.b64decode(url.split(",", 1)[1]) for url in flux2["reference_images"]] == [i.data for i in images]
    assert "image_url" not in flux2
    with pytest.raises(InvalidRequest) as caught:
        TogetherAdapter().to_wire(
            _request(operation="edit", images=images), _route("together", "black-forest-labs/FLUX.1-kontext-pro")
        )
    assert caught.value.param == "image"
