"""``IMAGEGATE_LOG_FORMAT=json``: the attempt line as one JSON object with the text line's fields."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import uuid

import httpx
import pytest

from imagegate.telemetry.json_logs import JsonFormatter
from tests.support.gateway import GatewayHandle


def test_each_attempt_is_one_json_line_with_the_attempt_fields(
    gateway: GatewayHandle, caplog: pytest.LogCaptureFixture
):
    key = gateway.create_key(f"json-{uuid.uuid4().hex[:8]}")
    with caplog.at_level(logging.INFO, logger="imagegate.service"):
        answer = httpx.post(
            gateway.url + "/v1/images/generations",
            json={"model": "gpt-image-2", "prompt": "a fox", "size": "1024x1024", "quality": "low"},
            headers={"authorization": f"Bearer {key}"},
            timeout=30,
        )
    request_id = answer.headers["x-request-id"]
    [row] = gateway.ledger(request_id)
    records = [record for record in caplog.records if request_id in record.getMessage()]
    assert len(records) == 1
    line = JsonFormatter().format(records[0])
    assert "\n" not in line
    document = json.loads(line)
    assert document["event"] == "attempt" and document["level"] == "INFO"
    expected = {
        "request_id": request_id,
        "attempt": 1,
        "key": row.key_name,
        "model": "gpt-image-2",
        "route": row.route,
        "status": "ok",
        "error": None,
        "images": 1,
        "cost_micros": row.cost_micros,
        "latency_ms": row.latency_ms,
    }
    assert {name: document[name] for name in expected} == expected
    # The text line carries the same fields, as before.
    assert records[0].getMessage().startswith(f"attempt request_id={request_id} attempt=1 key={row.key_name} ")


def test_other_records_are_json_too_with_their_exception():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("imagegate", logging.ERROR, __file__, 1, "failed %s", ("x",), sys.exc_info())
    document = json.loads(JsonFormatter().format(record))
    assert document["message"] == "failed x" and "ValueError: boom" in document["exception"]
    assert "event" not in document


_OFF_LOOP_SCRIPT = """
import logging, threading
from imagegate.telemetry.json_logs import configure_logging
configure_logging("info", "{log_format}")
[handler] = logging.getLogger().handlers
assert type(handler).__name__ == "_LazyQueueHandler", handler
log = logging.getLogger("imagegate.service.attempts")
fields = {{"request_id": "req_1", "status": "ok"}}
log.info("attempt %s", "request_id=req_1 status=ok", extra={{"attempt": fields}})
try:
    raise ValueError("boom")
except ValueError:
    log.exception("failed %s", "x")
log.debug("not at this level")
"""


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_lines_are_written_off_the_calling_thread_and_none_is_lost_at_exit(log_format: str):
    done = subprocess.run(
        [sys.executable, "-c", _OFF_LOOP_SCRIPT.format(log_format=log_format)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = done.stderr.strip().splitlines()
    if log_format == "json":
        attempt, failure = (json.loads(line) for line in lines)
        assert attempt["event"] == "attempt" and attempt["request_id"] == "req_1"
        assert failure["message"] == "failed x" and "ValueError: boom" in failure["exception"]
    else:
        assert lines[0].endswith("INFO imagegate.service.attempts: attempt request_id=req_1 status=ok")
        assert lines[1].endswith("ERROR imagegate.service.attempts: failed x")
        assert "ValueError: boom" in lines[-1]
    assert "not at this level" not in done.stderr


_ON_LOOP_SCRIPT = """
import asyncio, logging
from imagegate.telemetry.json_logs import configure_logging
configure_logging("info", "text")
log = logging.getLogger("imagegate.service.attempts")

async def main():
    for number in range(2000):
        log.info("line %d", number)
        if number % 7 == 0:
            await asyncio.sleep(0)

asyncio.run(main())
log.info("after the loop")
"""


def test_lines_logged_on_an_event_loop_are_all_written_in_order():
    done = subprocess.run(
        [sys.executable, "-c", _ON_LOOP_SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    messages = [line.split(": ", 1)[1] for line in done.stderr.strip().splitlines()]
    assert messages == [f"line {number}" for number in range(2000)] + ["after the loop"]
