"""ImageService over submit-and-poll hosts, through the scripted transport: one row per submit."""

from __future__ import annotations

import io

from PIL import Image

from imagegate.accounting.auth import Principal
from imagegate.catalog import load_catalog
from imagegate.domain.request import ImageRequest
from imagegate.providers.base import RouteTarget
from imagegate.providers.registry import builtin_registry
from imagegate.route_config import facts_from_catalog
from imagegate.routing.retry import RetryPolicy
from imagegate.routing.table import ModelAlias, RouteTable
from imagegate.service.images import ImageService
from imagegate.service.plan import Plan, plan_request
from tests.service.test_images_pipeline import Ledger
from tests.support.scripted_http import Reply, ScriptedHttp

BASE = "http://127.0.0.1:9"
OPTIONS = {"poll_interval": 0.001}
POLL = f"{BASE}/v1/get_result?id=t1"
FILE = f"{BASE}/results/t1.jpeg"


def _jpeg() -> Reply:
    buffer = io.BytesIO()
    Image.new("RGB", (1024, 1024)).save(buffer, format="JPEG")
    return Reply(200, {"content-type": "image/jpeg"}, buffer.getvalue())


def _plan(*targets: RouteTarget) -> Plan:
    alias = ModelAlias("flux", targets, retry=RetryPolicy(max_attempts_per_route=1))
    return plan_request(
        request_id="req_1",
        request=ImageRequest(operation="generate", model="flux", prompt="a fox", dialect="openai-images"),
        principal=Principal(key_id=1, key_name="k", models=None),
        routes=RouteTable([alias]),
        registry=builtin_registry(),
        facts=facts_from_catalog(load_catalog()),
    )


def _bfl() -> RouteTarget:
    return RouteTarget("bfl", "flux", "bfl", "flux-2-pro", BASE, "bfl_k", options=OPTIONS)


async def test_the_submit_is_the_row_and_the_polls_are_not():
    submit = Reply.json(200, {"id": "t1", "polling_url": POLL, "cost": 3.0, "input_mp": 0, "output_mp": 1.05})
    pending = Reply.json(200, {"status": "Pending"})
    ready = Reply.json(200, {"status": "Ready", "result": {"sample": FILE}})
    http = ScriptedHttp({f"{BASE}/v1/flux-2-pro": [submit], POLL: [pending, pending, ready], FILE: [_jpeg()]})
    ledger = Ledger()
    served = await ImageService(http=http, ledger=ledger).serve(_plan(_bfl()), keep_raw_for=None)  # type: ignore[arg-type]
    assert served.result.image_count == 1 and served.result.size == "1024x1024"
    [row] = ledger.rows
    assert (row.status, row.provider_request_id, row.cost_micros, row.cost_estimated) == ("ok", "t1", 30_000, False)
    assert len(http.sent) == 5


async def test_a_failing_bfl_route_falls_back_to_fal():
    fal_base = "http://127.0.0.2:9"
    status, result = f"{fal_base}/fal-ai/flux-2-pro/requests/r1/status", f"{fal_base}/fal-ai/flux-2-pro/requests/r1"
    queued = {"request_id": "r1", "status_url": status, "response_url": result, "cancel_url": result + "/cancel"}
    http = ScriptedHttp(
        {
            f"{BASE}/v1/flux-2-pro": [Reply.json(503, {"detail": "Service Unavailable"})],
            f"{fal_base}/fal-ai/flux-2-pro": [Reply.json(200, queued)],
            status: [Reply.json(200, {"status": "COMPLETED"})],
            result: [Reply.json(200, {"images": [{"url": f"{fal_base}/f.jpeg"}], "has_nsfw_concepts": [False]})],
            f"{fal_base}/f.jpeg": [_jpeg()],
        }
    )
    fal = RouteTarget("fal", "flux", "fal", "fal-ai/flux-2-pro", fal_base, "fal_k", options=OPTIONS)
    ledger = Ledger()
    await ImageService(http=http, ledger=ledger).serve(_plan(_bfl(), fal), keep_raw_for=None)  # type: ignore[arg-type]
    assert [(row.route, row.status, row.cost_micros) for row in ledger.rows] == [
        ("bfl", "error", 0),
        ("fal", "ok", 30_000),
    ]
    assert http.sent[1].headers["authorization"] == "Key fal_k"
