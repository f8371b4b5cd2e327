"""The fault mix: every sandbox directive sent through every dialect, streamed and not, concurrently.

A *lane* is one way a client reaches a provider: the dialect it speaks, whether it streams, and the
provider route behind the alias it names (its own provider, or another one through translation).
A *case* is one directive on one lane. Each case gets a gateway key of its own, so its ledger rows
are found by key name, and each lane calls a provider model no other lane calls, so the sandbox's
request log tells the cases' provider calls apart by (model, stream, directive).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from imagegate.sandbox.directives import DIRECTIVE_NAMES, parse_fault

# Every directive, with a value where the suite needs one to stay fast ("429" alone waits 1 s between tries).
CLEAN = "clean"
DIRECTIVES: tuple[str, ...] = (
    CLEAN,
    "moderation",
    "moderation=output",
    "429",
    "429=0.2",
    "quota",
    "401",
    "500",
    "502",
    "503",
    "slow=0.2",
    "hang",
    "reset",
    "truncated",
    "malformed",
    "stream-error",
    "no-image",
    "prohibited",
    "filtered",
    "moderation-item",
)
# The submit-and-poll hosts' task directives: no lane here has such a host (their providers answer
# normally), so they are left out of the burst; tests/e2e/flux and tests/sandbox cover them.
TASK_DIRECTIVES = frozenset({"polls", "never-finish", "task-error", "expired"})

# How a hang ends: the route's timeout, short on the lanes' hang aliases only, so load never times out the rest.
HANG_TIMEOUT_S = 1.0
ROUTE_TIMEOUT_S = 30.0
MAX_ATTEMPTS = 2


@dataclass(frozen=True)
class Lane:
    """A dialect, streamed or not, over one provider model."""

    name: str
    dialect: str  # "openai", "gemini" or "imagen": the client's side
    provider: str  # the route's provider
    provider_model: str  # unique per lane, so sandbox records are attributed to it
    stream: bool

    @property
    def native_stream(self) -> bool:
        """The provider streams to the gateway: only a dialect's own provider streams in that dialect."""
        return self.stream and self.dialect == self.provider

    @property
    def alias(self) -> str:
        """The model alias clients name for this lane (hang cases use its short-timeout twin)."""
        return f"mix-{self.name}"


LANES: tuple[Lane, ...] = (
    Lane("openai", "openai", "openai", "gpt-image-2", stream=False),
    Lane("openai-stream", "openai", "openai", "gpt-image-2-2026-04-21", stream=True),
    Lane("gemini", "gemini", "gemini", "gemini-3.1-flash-image", stream=False),
    Lane("gemini-stream", "gemini", "gemini", "gemini-2.5-flash-image", stream=True),
    Lane("imagen", "imagen", "imagen", "imagen-4.0-generate-001", stream=False),
    Lane("openai-to-gemini", "openai", "gemini", "gemini-3-pro-image", stream=False),
    Lane("gemini-to-openai", "gemini", "openai", "gpt-image-1.5", stream=False),
    # Another dialect's provider cannot stream in the client's dialect: the gateway calls it whole and re-emits.
    Lane("gemini-to-openai-stream", "gemini", "openai", "gpt-image-1-mini", stream=True),
)


@dataclass(frozen=True)
class Case:
    """One directive on one lane."""

    lane: Lane
    directive: str

    @property
    def id(self) -> str:
        """The pytest id and the gateway key's name: names the directive and the lane."""
        return f"{self.directive}@{self.lane.name}"

    @property
    def name(self) -> str:
        """The directive's name without its value, as the sandbox logs it."""
        return self.directive.split("=", 1)[0]

    @property
    def alias(self) -> str:
        """The alias to call: the lane's, or its short-timeout twin for ``hang``."""
        return self.lane.alias + ("-hang" if self.name == "hang" else "")

    @property
    def provider_signature(self) -> tuple[str, bool, tuple[str, ...]]:
        """How the sandbox logs this case's calls: (model, streamed, directive labels)."""
        labels = () if self.directive == CLEAN else (parse_fault(self.directive).label(),)
        return self.lane.provider_model, self.lane.native_stream, labels

    @property
    def prompt(self) -> str:
        """A prompt that carries the directive (none for the clean case)."""
        return "a lighthouse" if self.directive == CLEAN else f"a lighthouse [sandbox:{self.directive}]"


CASES: tuple[Case, ...] = tuple(Case(lane, directive) for lane in LANES for directive in DIRECTIVES)
REQUESTS_PER_CASE = 2

assert {d.split("=", 1)[0] for d in DIRECTIVES} - {CLEAN} | TASK_DIRECTIVES == set(DIRECTIVE_NAMES), (
    "a directive is missing"
)


def gateway_config(sandbox_url: str) -> dict[str, Any]:
    """Every lane's alias (long timeout) and its ``-hang`` twin (short timeout), breakers out of the way."""

    def model(name: str, lane: Lane, timeout: float) -> dict[str, Any]:
        base = f"{sandbox_url}/v1" if lane.provider == "openai" else sandbox_url
        route = {"provider": lane.provider, "model": lane.provider_model, "base_url": base, "timeout": timeout}
        route["api_key"] = "sk-mix" if lane.provider == "openai" else "AIza-mix"
        retry = {"max_attempts_per_route": MAX_ATTEMPTS, "base_delay": 0.05, "max_delay": 0.2}
        return {"name": name, "routes": [route], "retry": retry, "deadline": 20}

    models = [model(lane.alias, lane, ROUTE_TIMEOUT_S) for lane in LANES]
    models += [model(lane.alias + "-hang", lane, HANG_TIMEOUT_S) for lane in LANES]
    # The mix fails routes on purpose, hundreds of times: a tripped breaker would make outcomes depend on order.
    breaker = {"consecutive_failures": 100_000, "failure_rate": 1.0, "min_calls": 100_000}
    return {"models": models, "breaker": breaker}


# Longer strings (base64 images) are kept as their length only: the evidence stays small enough to share.
_MAX_KEPT_CHARS = 200


def _abridged(value: Any) -> Any:
    """``value`` with every long string replaced by ``"<N chars>"``."""
    if isinstance(value, dict):
        return {key: _abridged(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_abridged(item) for item in value]
    if isinstance(value, str) and len(value) > _MAX_KEPT_CHARS:
        return f"<{len(value)} chars>"
    return value


def _summary(status: int, content_type: str, body: bytes) -> dict[str, Any]:
    """What a client saw: the status and the body as JSON, or as its SSE events' JSON, abridged."""
    if content_type.startswith("text/event-stream"):
        lines = body.replace(b"\r\n", b"\n").split(b"\n")
        events = [orjson.loads(line[5:].strip()) for line in lines if line.startswith(b"data:")]
        return {"status": status, "stream": True, "events": _abridged(events)}
    return {"status": status, "stream": False, "json": _abridged(orjson.loads(body))}


def _request(case: Case, key: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    """Path, JSON body and headers for one request of ``case`` in its lane's dialect."""
    lane = case.lane
    if lane.dialect == "openai":
        body: dict[str, Any] = {"model": case.alias, "prompt": case.prompt, "size": "1024x1024"}
        if lane.provider == "openai":
            body["quality"] = "low"  # Gemini models have one quality level and refuse the field
        if lane.stream:
            body |= {"stream": True, "partial_images": 1}
        return "/v1/images/generations", body, {"authorization": f"Bearer {key}"}
    headers = {"x-goog-api-key": key}
    if lane.dialect == "imagen":
        body = {"instances": [{"prompt": case.prompt}], "parameters": {"sampleCount": 1}}
        return f"/v1beta/models/{case.alias}:predict", body, headers
    body = {"contents": [{"role": "user", "parts": [{"text": case.prompt}]}]}
    if lane.stream:
        return f"/v1beta/models/{case.alias}:streamGenerateContent?alt=sse", body, headers
    return f"/v1beta/models/{case.alias}:generateContent", body, headers


async def _send(client: httpx.AsyncClient, case: Case, key: str) -> dict[str, Any]:
    path, body, headers = _request(case, key)
    async with client.stream("POST", path, json=body, headers=headers) as response:
        content = await response.aread()
    return _summary(response.status_code, response.headers.get("content-type", ""), content)


async def _send_all(client: httpx.AsyncClient, cases: list[Case], keys: dict[str, str]) -> list[dict[str, Any]]:
    jobs = [_send(client, case, keys[case.id]) for case in cases for _ in range(REQUESTS_PER_CASE)]
    return await asyncio.gather(*jobs)


async def run_mix(gateway_url: str, keys: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Send every case ``REQUESTS_PER_CASE`` times, concurrently; what the clients saw, per case id.

    The hangs go last, on quiet servers: their short timeout counts from the gateway's send, and
    under the burst an attempt could time out before the sandbox even logged it, which would make
    "provider calls == ledger rows" depend on the machine's load.
    """
    hangs = [case for case in CASES if case.name == "hang"]
    others = [case for case in CASES if case.name != "hang"]
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    outcomes: list[dict[str, Any]] = []
    for phase in (others, hangs):
        # A fresh pool per phase: a connection left idle past the server's keep-alive timeout while
        # the first phase finished would be closed under the next request (a client-side ReadError).
        async with httpx.AsyncClient(base_url=gateway_url, timeout=60, limits=limits) as client:
            outcomes += await _send_all(client, phase, keys)
    by_case: dict[str, list[dict[str, Any]]] = {case.id: [] for case in CASES}
    sent = [case for case in others + hangs for _ in range(REQUESTS_PER_CASE)]
    for case, outcome in zip(sent, outcomes, strict=True):
        by_case[case.id].append(outcome)
    return by_case
