"""OpenAI Responses API route for the ``image_generation`` tool: ``POST /v1/responses``.

A mainline turn that always calls the image tool once: the ``image_generation_call`` output item,
``usage`` (deterministic mainline tokens) and ``tool_usage.image_gen``; the event sequence with
partial images when streamed; both moderation forms (``[sandbox:moderation]`` → HTTP 400,
``[sandbox:moderation-item]`` → a 200 whose item failed), ``hang`` and ``reset``; ``action: edit``
with no image in context → 400; ``previous_response_id`` of an earlier turn (its image counts as
context).
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Iterator
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from imagegate.sandbox.config import SandboxState
from imagegate.sandbox.faults import HangResponse, ResetResponse
from imagegate.sandbox.openai_images import check_auth, error_response, fault_error, fault_plan, request_id_of
from imagegate.sandbox.openai_models import OpenAIError, b64_text, bad_request
from imagegate.sandbox.render import RenderSpec, seed_from

# Output image tokens per quality (the 1024x1024 column of the GPT Image table); partials add 100 each.
_IMAGE_TOKENS = {"low": 272, "medium": 1056, "high": 4160, "auto": 1056, "xhigh": 4160, "max": 4160}
PARTIAL_TOKENS = 100
MAINLINE_OUTPUT_TOKENS = 42
_INPUT_IMAGE_TOKENS = 194  # one 1024x1024 input image by the tile rule (65 + 129)


def _texts_and_images(body: dict[str, Any]) -> tuple[str, int]:
    items = body.get("input")
    if isinstance(items, str):
        return items, 0
    texts: list[str] = []
    images = 0
    for item in items if isinstance(items, list) else []:
        content = item.get("content") if isinstance(item, dict) else None
        if isinstance(content, str):
            texts.append(content)
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and part.get("type") == "input_text":
                texts.append(str(part.get("text", "")))
            elif isinstance(part, dict) and part.get("type") == "input_image":
                images += 1
    return "\n".join(texts), images


def _tool(body: dict[str, Any]) -> dict[str, Any]:
    for tool in body.get("tools") or []:
        if isinstance(tool, dict) and tool.get("type") == "image_generation":
            return tool
    raise bad_request("tools", "This sandbox answers Responses requests with an image_generation tool only.")


class _Turn:
    """One turn's facts, shared by the JSON answer and the event stream."""

    def __init__(self, state: SandboxState, body: dict[str, Any], prompt: str, input_images: int) -> None:
        tool = _tool(body)
        self.tool = tool
        self.model = str(body.get("model"))
        self.prompt = prompt
        self.input_images = input_images
        self.quality = str(tool.get("quality") or "auto")
        self.size = str(tool.get("size") or "1024x1024")
        if self.size == "auto":
            self.size = "1024x1024"
        self.output_format = str(tool.get("output_format") or "png")
        self.background = str(tool.get("background") or "opaque")
        self.partials = int(tool.get("partial_images") or 0) if body.get("stream") is True else 0
        asked = tool.get("action")
        self.action = asked if asked in ("generate", "edit") else ("edit" if input_images else "generate")
        self.response_id = "resp_" + secrets.token_hex(24)
        self.item_id = "ig_" + secrets.token_hex(24)
        self.created_at = int(time.time())
        self.body = body
        self.state = state

    def spec(self, partial: tuple[int, int] | None = None) -> RenderSpec:
        width, height = (int(part) for part in self.size.split("x"))
        seed = seed_from("responses", self.prompt)
        return RenderSpec(width, height, self.output_format, self.background == "transparent", seed, None, partial)

    def usage(self) -> dict[str, Any]:
        text = math.ceil(len(self.prompt) / 4) + (50 if self.body.get("previous_response_id") else 0)
        return {
            "input_tokens": text,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": MAINLINE_OUTPUT_TOKENS,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": text + MAINLINE_OUTPUT_TOKENS,
        }

    def tool_usage(self, made_image: bool) -> dict[str, Any]:
        text = math.ceil(len(self.prompt) / 4)
        image_in = _INPUT_IMAGE_TOKENS * self.input_images
        out = (_IMAGE_TOKENS.get(self.quality, 1056) if made_image else 0) + PARTIAL_TOKENS * self.partials
        return {
            "image_gen": {
                "input_tokens": text + image_in,
                "input_tokens_details": {"image_tokens": image_in, "text_tokens": text},
                "output_tokens": out,
                "output_tokens_details": {"image_tokens": out, "text_tokens": 0},
                "total_tokens": text + image_in + out,
            },
            "web_search": {"num_requests": 0},
        }

    def item(self, result: str | None, *, failed: bool = False, done: bool = True) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": self.item_id,
            "type": "image_generation_call",
            "status": "failed" if failed else ("completed" if done else "in_progress"),
            "result": result,
            "action": self.action,
            "background": self.background,
            "output_format": self.output_format,
            "quality": self.quality if self.quality != "auto" else "medium",
            "size": self.size,
        }
        if done and not failed:
            item["revised_prompt"] = f"A picture of {self.prompt[:60]}"
        if failed:
            item["error"] = {
                "code": "moderation_blocked",
                "message": "Your request was rejected by the safety system.",
                "moderation_details": {"categories": ["violence"], "moderation_stage": "output"},
            }
        return item

    def response(self, output: list[dict[str, Any]], *, made_image: bool, done: bool = True) -> dict[str, Any]:
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": "completed" if done else "in_progress",
            "model": self.model,
            "output": output,
            "parallel_tool_calls": True,
            "previous_response_id": self.body.get("previous_response_id"),
            "tool_choice": self.body.get("tool_choice", "auto"),
            "tools": self.body.get("tools", []),
            "error": None,
            "incomplete_details": None,
            "metadata": {},
            "usage": self.usage() if done else None,
            "tool_usage": self.tool_usage(made_image) if done else None,
        }


def _events(turn: _Turn, image: bytes | None, partial_images: list[bytes]) -> Iterator[bytes]:
    """The stream of one turn; ``image`` None: the call failed (moderation), no completed event."""
    ref = {"item_id": turn.item_id, "output_index": 0}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": turn.response([], made_image=False, done=False)},
        {"type": "response.in_progress", "response": turn.response([], made_image=False, done=False)},
        {"type": "response.output_item.added", "output_index": 0, "item": turn.item(None, done=False)},
        {"type": "response.image_generation_call.in_progress", **ref},
        {"type": "response.image_generation_call.generating", **ref},
    ]
    for index, data in enumerate(partial_images):
        events.append(
            {
                "type": "response.image_generation_call.partial_image",
                **ref,
                "partial_image_index": index,
                "partial_image_b64": b64_text(data),
                "size": turn.size,
                "output_format": turn.output_format,
            }
        )
    item = turn.item(None, failed=True) if image is None else turn.item(b64_text(image))
    if image is not None:
        events.append({"type": "response.image_generation_call.completed", **ref})
    events += [
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": turn.response([item], made_image=image is not None)},
    ]
    for number, event in enumerate(events):
        event["sequence_number"] = number
        yield f"event: {event['type']}\ndata: ".encode() + orjson.dumps(event) + b"\n\n"


async def _answer(state: SandboxState, request: Request) -> Response | ASGIApp:
    check_auth(state, request)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise bad_request(None, "We could not parse the JSON body of your request.") from None
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise bad_request("model", "Missing required parameter: 'model'.", code="missing_required_parameter")
    prompt, input_images = _texts_and_images(body)
    previous = body.get("previous_response_id")
    if previous is not None and previous not in state.responses:
        raise OpenAIError(
            400, f"Previous response with id '{previous}' not found.", param="previous_response_id", code=None
        )
    turn = _Turn(state, body, prompt, input_images)
    if turn.tool.get("action") == "edit" and input_images == 0 and not (previous and state.responses[previous]):
        raise bad_request("tools[0].action", "action 'edit' needs an image in the input or an earlier turn.")
    # Queued control-endpoint faults first, then the prompt's directives (as on the Images routes).
    plan = fault_plan(state, request, turn.model, prompt)
    delay = plan.delay_s + (state.config.fixed_delay_ms or 0) / 1000
    if delay > 0:
        await asyncio.sleep(delay)
    outcome = plan.outcome
    if outcome is not None:
        error = fault_error(outcome, request_id_of(request))
        if error is not None:
            raise error
    if outcome is not None and outcome.name == "hang":
        gave_up = OpenAIError(504, "The sandbox hang fault reached hang_max_s.", type="server_error", code="timeout")
        return HangResponse(state.config.hang_max_s, error_response(gave_up))
    if outcome is not None and outcome.name == "reset":
        return ResetResponse(state.transport_lookup)
    if outcome is not None and outcome.name == "moderation-item":
        state.responses[turn.response_id] = False
        if body.get("stream") is True:
            return StreamingResponse(_events(turn, None, []), media_type="text/event-stream")
        answer = turn.response([turn.item(None, failed=True)], made_image=False)
        return Response(orjson.dumps(answer), media_type="application/json")
    image = await run_in_threadpool(state.renderer.render, turn.spec())
    state.responses[turn.response_id] = True
    if body.get("stream") is True:
        partials = [state.renderer.render(turn.spec((index, turn.partials))) for index in range(turn.partials)]
        return StreamingResponse(_events(turn, image, partials), media_type="text/event-stream")
    answer = turn.response([turn.item(b64_text(image))], made_image=True)
    return Response(orjson.dumps(answer), media_type="application/json")


def responses_routes(state: SandboxState) -> list[Route]:
    """``POST /v1/responses`` bound to ``state``."""

    async def create(request: Request) -> Response | ASGIApp:
        try:
            return await _answer(state, request)
        except OpenAIError as error:
            return error_response(error)

    return [Route("/v1/responses", create, methods=["POST"])]
