"""The submit-and-poll driver over a scripted transport: polls, downloads, URL policy, cancellation."""

from __future__ import annotations

import asyncio
import ipaddress

import orjson
import pytest

from imagegate.domain.errors import InvalidRequest, ModerationBlocked, UpstreamBadResponse, UpstreamTimeout
from imagegate.domain.request import ImageRequest
from imagegate.providers.accepted_task import AcceptedTask
from imagegate.providers.base import RouteTarget, WireRequest
from imagegate.providers.bfl import BflAdapter
from imagegate.providers.polling import Poller, PollTiming, check_route_options, pinned
from tests.support.scripted_http import Reply, ScriptedHttp

BASE = "http://127.0.0.1:9"
POLL = f"{BASE}/v1/get_result?id=t1"
RESULT = "http://localhost:9/results/t1/sample-0.jpeg?sig=x"
# The download goes to the address the policy resolved and checked, with the original Host.
PINNED_RESULT = "http://127.0.0.1:9/results/t1/sample-0.jpeg?sig=x"
FAST = PollTiming(first_s=0.001, backoff=1.0, max_s=0.001)
SUBMIT = Reply.json(200, {"id": "t1", "polling_url": POLL, "cost": 3.0, "input_mp": 0, "output_mp": 1.05})
PENDING = Reply.json(200, {"id": "t1", "status": "Pending"})
READY = Reply.json(200, {"id": "t1", "status": "Ready", "result": {"sample": RESULT}})
JPEG = Reply(200, {"content-type": "image/jpeg"}, b"\xff\xd8jpeg")


def _route(base: str = BASE, timeout_s: float = 5.0, **options: object) -> RouteTarget:
    options.setdefault("result_hosts", ["localhost"])
    return RouteTarget("r", "flux-2-pro", "bfl", "flux-2-pro", base, "bfl_secret", timeout_s, options=options)


def _submit(route: RouteTarget) -> WireRequest:
    request = ImageRequest(operation="generate", model="flux-2-pro", prompt="a cat", dialect="openai-images")
    return BflAdapter().to_wire(request, route)


async def test_pending_polls_then_the_file_is_downloaded_without_the_key() -> None:
    http = ScriptedHttp({f"{BASE}/v1/flux-2-pro": [SUBMIT], POLL: [PENDING, PENDING, READY], PINNED_RESULT: [JPEG]})
    route = _route()
    answer = await Poller(http, timing=FAST).exchange(BflAdapter(), _submit(route), route)
    assert http.urls() == [f"{BASE}/v1/flux-2-pro", POLL, POLL, POLL, PINNED_RESULT]
    assert [w.headers.get("x-key") for w in http.sent] == ["bfl_secret"] * 4 + [None]
    assert http.sent[-1].headers["host"] == "localhost:9"
    assert answer.files[0].data == b"\xff\xd8jpeg" and answer.submitted is not None
    assert answer.submitted.body == SUBMIT.body


async def test_a_synchronous_answer_is_returned_as_is() -> None:
    http = ScriptedHttp({f"{BASE}/v1/flux-2-pro": [Reply.json(429, {"detail": "busy"})]})
    route = _route()
    answer = await Poller(http, timing=FAST).exchange(BflAdapter(), _submit(route), route)
    assert answer.status == 429 and http.urls() == [f"{BASE}/v1/flux-2-pro"]


async def test_a_throttled_poll_waits_and_polls_again() -> None:
    throttled = Reply.json(429, {"detail": "slow down"}, retry_after="0")
    http = ScriptedHttp({f"{BASE}/v1/flux-2-pro": [SUBMIT], POLL: [throttled, READY], PINNED_RESULT: [JPEG]})
    route = _route()
    answer = await Poller(http, timing=FAST).exchange(BflAdapter(), _submit(route), route)
    assert len(answer.files) == 1 and http.urls().count(POLL) == 2


async def test_moderation_ends_the_task_with_the_domain_error() -> None:
    moderated = Reply.json(200, {"id": "t1", "status": "Content Moderated"})
    http = ScriptedHttp({f"{BASE}/v1/flux-2-pro": [SUBMIT], POLL: [PENDING, moderated]})
    route = _route()
    with pytest.raises(ModerationBlocked) as caught:
        await Poller(http, timing=FAST).exchange(BflAdapter(), _submit(route), route)
    assert caught.value.provider_code == "Content Moderated" and caught.value.provider_request_id == "t1"


async def test_a_polling_url_on_a_foreign_host_is_not_followed() -> None:
    foreign = Reply.json(200, {"id": "t1", "polling_url": "http://169.254.169.254/latest/meta-data"})
    http = ScriptedHttp({f"{BASE}/v1/flux-2-pro": [foreign]})
    route = _route()
    with pytest.raises(UpstreamBadResponse, match="not one of its hosts"):
        await Poller(http, timing=FAST).exchange(BflAdapter(), _submit(route), route)
    assert http.urls() == [f"{BASE}/v1/flux-2-pro"]


async def test_a_result_on_a_foreign_host_is_not_downloaded_and_gets_no_key() -> None:
    # Only the provider's result hosts (and the route's own) may serve files: not an attacker's.
    foreign = Reply.json(200, {"id": "t1", "status": "Ready", "result": {"sample": "http://files.example/x.jpeg"}})
    http = ScriptedHttp({f"{BASE}/v1/flux-2-pro": [SUBMIT], POLL: [foreign]})
    route = _route()
    with pytest.raises(UpstreamBadResponse, match="result URL points at 'files\\.example'"):
        await Poller(http, timing=FAST).exchange(BflAdapter(), _submit(route), route)
    assert http.urls() == [f"{BASE}/v1/flux-2-pro", POLL]


async def test_a_result_on_a_private_address_is_refused_when_the_route_is_public() -> None:
    base = "http://8.8.8.8"
    poll = f"{base}/v1/get_result?id=t1"
    submit = Reply.json(200, {"id": "t1", "polling_url": poll})
    ready = Reply.json(200, {"id": "t1", "status": "Ready", "result": {"sample": "http://127.0.0.1/x.jpeg"}})
    http = ScriptedHttp({f"{base}/v1/flux-2-pro": [submit], poll: [ready]})
    route = _route(base, result_hosts=["127.0.0.1"])
    with pytest.raises(UpstreamBadResponse, match="private or reserved"):
        await Poller(http, timing=FAST).exchange(BflAdapter(), _submit(route), route)
    assert "http://127.0.0.1/x.jpeg" not in http.urls()


async def test_a_task_that_never_finishes_times_out_at_the_route_deadline() -> None:
    http = ScriptedHttp({f"{BASE}/v1/flux-2-pro": [SUBMIT], POLL: [PENDING] * 1000})
    route = _route(timeout_s=0.05)
    with pytest.raises(UpstreamTimeout):
        await Poller(http, timing=PollTiming(first_s=0.01, backoff=1.0, max_s=0.01)).exchange(
            BflAdapter(), _submit(route), route
        )
    assert 1 <= http.urls().count(POLL) <= 10


class _Cancellable(BflAdapter):
    """BFL's wire with a cancel call (BFL itself has none), to see the driver use it."""

    def accepted_task(self, response, route):  # type: ignore[no-untyped-def]
        task = super().accepted_task(response, route)
        assert task is not None
        return type(task)(id=task.id, poll_url=task.poll_url, cancel_url=f"{BASE}/cancel/{task.id}")


async def test_a_timeout_cancels_the_task_at_the_host() -> None:
    http = ScriptedHttp(
        {f"{BASE}/v1/flux-2-pro": [SUBMIT], POLL: [PENDING] * 1000, f"{BASE}/cancel/t1": [Reply.json(200, {})]}
    )
    route = _route(timeout_s=0.05)
    with pytest.raises(UpstreamTimeout):
        await Poller(http, timing=PollTiming(first_s=0.01, backoff=1.0, max_s=0.01)).exchange(
            _Cancellable(), _submit(route), route
        )
    cancel = http.sent[-1]
    assert (cancel.method, cancel.url, cancel.headers["x-key"]) == ("POST", f"{BASE}/cancel/t1", "bfl_secret")


async def test_a_cancelled_request_cancels_the_task_at_the_host() -> None:
    http = ScriptedHttp(
        {f"{BASE}/v1/flux-2-pro": [SUBMIT], POLL: [PENDING] * 1000, f"{BASE}/cancel/t1": [Reply.json(200, {})]}
    )
    route = _route()
    poller = Poller(http, timing=PollTiming(first_s=0.01, backoff=1.0, max_s=0.01))
    running = asyncio.ensure_future(poller.exchange(_Cancellable(), _submit(route), route))
    while http.urls().count(POLL) < 2:
        await asyncio.sleep(0.005)
    running.cancel("client_disconnected")
    with pytest.raises(asyncio.CancelledError):
        await running
    assert http.urls()[-1] == f"{BASE}/cancel/t1"


async def test_a_finished_task_is_not_cancelled() -> None:
    failed = Reply.json(200, {"id": "t1", "status": "Error"})
    http = ScriptedHttp({f"{BASE}/v1/flux-2-pro": [SUBMIT], POLL: [failed]})
    route = _route()
    with pytest.raises(Exception, match="'Error'"):
        await Poller(http, timing=FAST).exchange(_Cancellable(), _submit(route), route)
    assert f"{BASE}/cancel/t1" not in http.urls()


def test_an_https_url_is_pinned_with_its_tls_name() -> None:
    wire = pinned("GET", "https://delivery-eu1.bfl.ai/r/x.png?sig=1", {}, [ipaddress.ip_address("2001:db8::1")])
    assert wire.url == "https://[2001:db8::1]/r/x.png?sig=1"
    assert (wire.headers["host"], wire.server_hostname) == ("delivery-eu1.bfl.ai", "delivery-eu1.bfl.ai")


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": "fast"}, "poll_interval"),
        ({"result_hosts": "cdn.example.com"}, "result_hosts"),
        ({"allow_networks": ["not-a-cidr"]}, "allow_networks"),
    ],
)
def test_bad_polling_options_are_refused_at_startup(options: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_route_options(_route(**options))
    assert caught.value.param == param


async def test_a_refused_poll_ends_the_task_without_a_cancel_call() -> None:
    http = ScriptedHttp({f"{BASE}/v1/flux-2-pro": [SUBMIT], POLL: [Reply.json(404, {"detail": "Not Found"})]})
    route = _route()
    with pytest.raises(Exception, match="404"):
        await Poller(http, timing=FAST).exchange(_Cancellable(), _submit(route), route)
    assert http.urls() == [f"{BASE}/v1/flux-2-pro", POLL]


async def test_an_accepted_task_is_reported_before_the_first_poll_and_resumed_from_its_document() -> None:
    http = ScriptedHttp({f"{BASE}/v1/flux-2-pro": [SUBMIT], POLL: [PENDING, PENDING, READY], PINNED_RESULT: [JPEG]})
    route = _route()
    reported: list[tuple[AcceptedTask, int]] = []

    async def keep(accepted: AcceptedTask) -> None:
        reported.append((accepted, len(http.sent)))

    first = await Poller(http, timing=FAST).exchange(BflAdapter(), _submit(route), route, on_accepted=keep)
    [(accepted, calls_then)] = reported
    assert calls_then == 1 and accepted.task.id == "t1"  # after the submit, before any poll
    # What a job keeps (JSON), read back by another process, polls the same task: no second submit.
    document = orjson.loads(orjson.dumps(accepted.document()))
    assert AcceptedTask.from_document(document) == accepted
    again = ScriptedHttp({POLL: [PENDING, READY], PINNED_RESULT: [JPEG]})
    resumed = await Poller(again, timing=FAST).resume(BflAdapter(), AcceptedTask.from_document(document), route)
    assert again.urls() == [POLL, POLL, PINNED_RESULT]
    assert resumed.files == first.files and resumed.submitted is not None
    assert resumed.submitted.body == SUBMIT.body  # the adapter reads usage from the submit's answer


async def test_a_failing_report_calls_the_task_off_unpolled() -> None:
    http = ScriptedHttp({f"{BASE}/v1/flux-2-pro": [SUBMIT], f"{BASE}/cancel/t1": [Reply.json(200, {})]})

    async def refuse(accepted: AcceptedTask) -> None:
        raise RuntimeError("the job store is down")

    route = _route()
    with pytest.raises(RuntimeError):
        await Poller(http, timing=FAST).exchange(_Cancellable(), _submit(route), route, on_accepted=refuse)
    assert http.urls() == [f"{BASE}/v1/flux-2-pro", f"{BASE}/cancel/t1"]


def test_a_kept_task_that_is_not_one_is_a_bad_response() -> None:
    with pytest.raises(UpstreamBadResponse, match="kept provider task"):
        AcceptedTask.from_document({"id": "t1"})
