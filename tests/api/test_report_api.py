"""``GET /api/report`` on a real gateway: sums match the ledger, feedback counts, admin only."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal

import httpx
import openai
import pytest
from openai import OpenAI

from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import running_gateway, sandbox_models_config

MASTER = "mk-report-51c0"


@pytest.fixture(scope="module")
def reporting(sandbox_url, tmp_path_factory) -> Iterator:
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("report") / "r.db")
    with running_gateway(
        engine, sandbox_models_config(sandbox_url, ["gpt-image-2", "gpt-image-1.5"]), master_key=MASTER
    ) as handle:
        design, batch = handle.create_key("design"), handle.create_key("batch")
        for key, model, n in [(design, "gpt-image-2", 2), (design, "gpt-image-1.5", 1), (batch, "gpt-image-2", 1)]:
            client = OpenAI(base_url=handle.url + "/v1", api_key=key, max_retries=0)
            raw = client.images.with_raw_response.generate(
                model=model, prompt="a cat", size="1024x1024", quality="low", n=n
            )
            for index in range(n):
                verdict = {
                    "request_id": raw.headers["x-request-id"],
                    "image_index": index,
                    "accepted": not (model == "gpt-image-2" and index == 1),
                }
                response = httpx.post(
                    handle.url + "/v1/images/feedback", json=verdict, headers={"authorization": f"Bearer {key}"}
                )
                assert response.status_code == 200
        with pytest.raises(openai.BadRequestError):  # a blocked attempt: in the report, no images
            OpenAI(base_url=handle.url + "/v1", api_key=batch, max_retries=0).images.generate(
                model="gpt-image-2", prompt="[sandbox:moderation]"
            )
        handle.ledger()  # wait for the writer
        yield handle
    engine.dispose()


def _get(handle, query: str, token: str | None = MASTER) -> httpx.Response:
    headers = {} if token is None else {"authorization": f"Bearer {token}"}
    return httpx.get(handle.url + "/api/report" + query, headers=headers)


def test_report_by_key_matches_the_ledger(reporting):
    response = _get(reporting, "?by=key&since=1h")
    assert response.status_code == 200
    body = response.json()
    rows = {row["key"]: row for row in body["rows"]}
    ledger = reporting.ledger()
    for name in ("design", "batch"):
        spent = sum(row.cost_micros for row in ledger if row.key_name == name)
        assert Decimal(rows[name]["spend_usd"]) * 1_000_000 == spent
    design = rows["design"]
    assert (design["requests"], design["images"], design["accepted"], design["rejected"]) == (2, 3, 2, 1)
    assert design["acceptance_rate"] == "0.6667"
    spent = Decimal(design["spend_usd"])
    assert Decimal(design["cost_per_accepted_image_usd"]) == (spent / 2).quantize(Decimal("0.000001"))
    assert (rows["batch"]["requests"], rows["batch"]["attempts"], rows["batch"]["failed_attempts"]) == (2, 2, 1)
    assert body["total"]["accepted"] == 3 and body["columns"][0] == "key"


def test_report_csv_by_model(reporting):
    response = _get(reporting, "?by=model&format=csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["model"] for row in rows] == ["gpt-image-2", "gpt-image-1.5"]  # most spend first
    gpt2 = next(row for row in rows if row["model"] == "gpt-image-2")
    assert (gpt2["images"], gpt2["accepted"], gpt2["rejected"], gpt2["unrated"]) == ("3", "2", "1", "0")


def test_admin_only(reporting, gateway):
    assert _get(reporting, "?by=model", token=None).status_code == 401
    assert _get(reporting, "?by=model", token="mk-wrong").status_code == 401
    assert _get(reporting, "?by=model", token=reporting.create_key("not-admin")).status_code == 403
    # Without a master key the endpoint does not exist.
    assert httpx.get(gateway.url + "/api/report", headers={"authorization": "Bearer x"}).status_code == 404


@pytest.mark.parametrize(
    ("query", "param"),
    [("?by=color", "by"), ("?since=yesterday", "since"), ("?until=soon", "until"), ("?format=xlsx", "format")],
)
def test_bad_queries_name_the_parameter(reporting, query, param):
    response = _get(reporting, query)
    assert response.status_code == 400 and response.json()["error"]["param"] == param
